package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/internal/testutil"
)

func TestCheckCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	_, err := builder.Build(context.Background(), builder.Spec{
		App:        builder.App{Path: testutil.StaticBinary(t, "../../examples/hello", testutil.BuildOptions{})},
		Kernel:     builder.KernelSource{Deb: testutil.KernelDeb(t)},
		Bootloader: testutil.LoaderDeb(t),
		OutputDir:  out,
		DataVolume: builder.DataVolume{Size: 64 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		root := newRootCmd()
		var stdout bytes.Buffer
		root.SetOut(&stdout)
		root.SetErr(&stdout)
		root.SetArgs([]string{"check", out})
		err := root.ExecuteContext(context.Background())
		return stdout.String(), err
	}
	got, err := run()
	if err != nil || !strings.Contains(got, "ok    "+filepath.Join(out, "hello.raw")) || !strings.Contains(got, "block sha256") {
		t.Fatalf("check of a fresh build: %v\n%s", err, got)
	}
	f, err := os.OpenFile(filepath.Join(out, "hello-data.raw"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("x"), 32<<20)
	f.Close()
	if _, err := run(); !errors.Is(err, builder.ErrChecksum) || !strings.Contains(err.Error(), "hello-data.raw") {
		t.Fatalf("check of a changed data volume: %v", err)
	}
}
