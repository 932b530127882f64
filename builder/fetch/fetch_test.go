package fetch

import (
	"context"
	"testing"
)

func TestResolveKernelPackageVersioned(t *testing.T) {
	// Versioned names are used as they are, without asking apt.
	for _, n := range []string{"linux-image-6.1.0-9-cloud-amd64", "linux-image-6.12.9-cloud-amd64"} {
		got, err := resolveKernelPackage(context.Background(), n)
		if err != nil || got != n {
			t.Errorf("resolveKernelPackage(%q) = %q, %v", n, got, err)
		}
	}
}
