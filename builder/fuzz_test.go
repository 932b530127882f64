package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
)

// fuzzResult is a manifest as a real build writes it.
func fuzzResult() *Result {
	return &Result{
		Files: []File{
			{Path: "/out/web.raw", Role: RoleBoot, Format: image.Raw, Size: 1 << 27, Allocated: 20 << 20, SHA256: strings.Repeat("ab", 32)},
			{Path: "/out/web.qcow2", Role: RoleBoot, Format: image.QCOW2, Size: 21 << 20, SHA256: strings.Repeat("cd", 32), Reused: true},
			{Path: "/out/web-data.raw", Role: RoleData, Format: image.Raw, Size: 1 << 30, Allocated: 1 << 20},
		},
		Manifest:      "/out/web.manifest.json",
		KernelRelease: "9.9.9-1-test-amd64",
		Spec: Spec{
			Name:       "web",
			App:        App{Path: "web", Args: []string{"-v"}, Env: []string{"A=1"}, Ports: []int{8080}, StopTimeout: 10 * time.Second, Restart: "on-failure"},
			Kernel:     KernelSource{URL: "https://deb.debian.org/k.deb", Checksum: "sha256:" + strings.Repeat("0", 64)},
			BootDisk:   Disk{Size: 1 << 27, Formats: []image.Format{image.Raw, image.QCOW2}},
			DataVolume: DataVolume{Size: 1 << 30, Label: "bootapp-data", MountPoint: "/data", Formats: []image.Format{image.Raw}},
			Health:     &HealthCheck{Port: 8080, Path: "/healthz", Timeout: time.Minute},
		},
		Duration: 1500 * time.Millisecond,
	}
}

// FuzzParseSpec decodes arbitrary config files. Errors about a value must
// be *FieldError values naming the field; an accepted spec must encode and
// parse back to the same encoding; WithDefaults must either refuse it with
// a FieldError wrapping ErrInvalidSpec or return a spec it leaves as it is.
func FuzzParseSpec(f *testing.F) {
	spec, _ := json.Marshal(fuzzResult().Spec)
	f.Add(spec)
	f.Add([]byte(`{"app": {"path": "hello", "ports": [8080], "stop_timeout": "15s"}, "health": {"port": 8080, "timeout": "1m"}, "data_volume": {"size": "10G"}}`))
	f.Add([]byte(`{"app":{"path":"a","stop_timeout":5000000000},"boot_disk":{"size":134217728,"formats":["vmdk","vhd"]},"data_volume":{"disabled":true}}`))
	f.Add([]byte(`{"app":{"path":"a","stoptimeout":"1s"}}`))
	f.Add([]byte(`{"app":{"path":"a","env":["A=1","B"]},"data_volume":{"size":"1.5G","mount_point":"/../x"}} {}`))
	f.Add([]byte(`{"App":{"Path":"a"},"health":null,"boot_disk":{"size":"-1"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data)
		if err != nil {
			var fe *FieldError
			if errors.Is(err, ErrInvalidSpec) && (!errors.As(err, &fe) || fe.Field == "") {
				t.Fatalf("ParseSpec: %v wraps ErrInvalidSpec without a FieldError naming the field", err)
			}
			return
		}
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("accepted spec does not encode: %v", err)
		}
		back, err := ParseSpec(enc)
		if err != nil {
			t.Fatalf("encoded spec %s does not parse back: %v", enc, err)
		}
		if enc2, _ := json.Marshal(back); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the spec:\n%s\n%s", enc, enc2)
		}

		d, err := s.WithDefaults()
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrInvalidSpec) || !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("WithDefaults: %v; want a FieldError wrapping ErrInvalidSpec", err)
			}
			return
		}
		d2, err := d.WithDefaults()
		if err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("WithDefaults is not idempotent: %+v, then %+v, %v", d, d2, err)
		}
	})
}

// FuzzReadManifest reads arbitrary manifests. Reading the file and its
// directory must agree; an accepted manifest has absolute file paths below
// its directory unless they were absolute, and survives being written
// again by encodeManifest.
func FuzzReadManifest(f *testing.F) {
	m, _ := encodeManifest(fuzzResult())
	f.Add(m)
	f.Add([]byte(strings.NewReplacer(`10000000000`, `"10s"`, `1500000000`, `"1.5s"`, `60000000000`, `"1m"`).Replace(string(m))))
	f.Add([]byte(`{"files":[{"path":"../x.raw","role":"boot","format":"raw","size":1}],"spec":{"app":{"path":"a"}},"duration":"1h"}`))
	f.Add([]byte(`{"duration":"x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "fuzz.manifest.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := ReadManifest(p)
		r2, err2 := ReadManifest(dir)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(r, r2) {
			t.Fatalf("ReadManifest(file) = %+v, %v; ReadManifest(dir) = %+v, %v", r, err, r2, err2)
		}
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name the manifest", err)
			}
			return
		}
		if r.Manifest != p {
			t.Fatalf("Manifest = %q, want %q", r.Manifest, p)
		}
		for _, fl := range r.Files {
			if !filepath.IsAbs(fl.Path) {
				t.Fatalf("file path %q is not absolute", fl.Path)
			}
		}
		enc, err := encodeManifest(r)
		if err != nil {
			t.Fatalf("accepted manifest does not encode: %v", err)
		}
		if err := os.WriteFile(p, enc, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := ReadManifest(p)
		if err != nil {
			t.Fatalf("re-encoded manifest %s does not read back: %v", enc, err)
		}
		if len(back.Files) != len(r.Files) || !reflect.DeepEqual(back.Spec, r.Spec) || back.Duration != r.Duration || back.KernelRelease != r.KernelRelease {
			t.Fatalf("re-encoded manifest reads back as %+v, want %+v", back, r)
		}
		for i := range back.Files {
			want := r.Files[i]
			want.Path = filepath.Join(dir, filepath.Base(want.Path))
			if back.Files[i] != want {
				t.Fatalf("file %d reads back as %+v, want %+v", i, back.Files[i], want)
			}
		}
	})
}

// TestParseSpecEmptyKey: an empty key is reported with a visible path
// (FuzzParseSpec found `{"": {}}` reported as field "").
func TestParseSpecEmptyKey(t *testing.T) {
	for in, want := range map[string]string{`{"": {}}`: `""`, `{"app": {"": 1}}`: `app.""`} {
		_, err := ParseSpec([]byte(in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != want || !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("ParseSpec(%s) = %v; want a FieldError for %s", in, err, want)
		}
	}
}
