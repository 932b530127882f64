package bootapp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/builder/verify"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

var _ packersdk.Builder = (*Builder)(nil)

func testUI() (packersdk.Ui, *testutil.SyncBuffer) {
	out := &testutil.SyncBuffer{}
	return &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: out, ErrorWriter: out, PB: &packersdk.NoopProgressTracker{}}, out
}

// fakeBuild writes small files where builder.Build would and records the
// spec it got. With block set it waits for the context instead, and then
// fails as Build does on cancellation (after removing its temporary file).
type fakeBuild struct {
	mu    sync.Mutex
	spec  builder.Spec
	block bool
	fail  error
	// started is closed when the build starts.
	started chan struct{}
}

func (f *fakeBuild) build(ctx context.Context, s builder.Spec) (*builder.Result, error) {
	f.mu.Lock()
	f.spec = s
	f.mu.Unlock()
	if f.started != nil {
		close(f.started)
	}
	fmt.Fprintf(s.Progress, "kernel 6.1.0-test\nwriting boot disk")
	if f.fail != nil {
		return nil, f.fail
	}
	tmp := filepath.Join(s.OutputDir, ".hello.raw.tmp-1")
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		return nil, err
	}
	if f.block {
		<-ctx.Done()
		os.Remove(tmp)
		return nil, ctx.Err()
	}
	boot := filepath.Join(s.OutputDir, "hello.raw")
	if err := os.Rename(tmp, boot); err != nil {
		return nil, err
	}
	data := filepath.Join(s.OutputDir, "hello-data.raw")
	manifest := filepath.Join(s.OutputDir, "hello.manifest.json")
	for _, p := range []string{data, manifest} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256([]byte("partial"))
	res := &builder.Result{
		Files: []builder.File{
			{Path: boot, Role: builder.RoleBoot, Format: image.Raw, Size: 7, SHA256: hex.EncodeToString(sum[:])},
			{Path: data, Role: builder.RoleData, Format: image.Raw, Size: 1},
		},
		Manifest:      manifest,
		KernelRelease: "6.1.0-test",
		Spec:          s,
	}
	res.Spec.Name = "hello"
	return res, nil
}

func prepared(t *testing.T, raw map[string]interface{}) *Builder {
	t.Helper()
	var b Builder
	vars, _, err := b.Prepare(raw)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if len(vars) != len(generatedVars) {
		t.Errorf("generated vars = %v", vars)
	}
	return &b
}

func TestRun(t *testing.T) {
	appFile, _, _ := fixture(t)
	debContent := []byte("pretend this is a kernel package")
	sum := sha256.Sum256(debContent)
	goodSum := "sha256:" + hex.EncodeToString(sum[:])
	badSum := "sha256:" + strings.Repeat("0", 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(debContent)
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		opts       map[string]interface{}
		block      bool
		fail       error
		verify     verifyFunc
		cancel     bool
		wantErr    string
		wantOutput bool
		check      func(t *testing.T, f *fakeBuild, ui string)
	}{
		{
			name:       "success relays progress and passes the spec",
			opts:       map[string]interface{}{"formats": []string{"raw"}},
			wantOutput: true,
			check: func(t *testing.T, f *fakeBuild, ui string) {
				if f.spec.App.Path != appFile || len(f.spec.BootDisk.Formats) != 1 {
					t.Errorf("spec = %+v", f.spec)
				}
				for _, s := range []string{"kernel 6.1.0-test", "writing boot disk", "boot: "} {
					if !strings.Contains(ui, s) {
						t.Errorf("UI output lacks %q:\n%s", s, ui)
					}
				}
			},
		},
		{
			name:       "kernel_url is downloaded into Packer's cache",
			opts:       map[string]interface{}{"kernel_url": srv.URL + "/linux-image.deb", "kernel_checksum": goodSum},
			wantOutput: true,
			check: func(t *testing.T, f *fakeBuild, ui string) {
				got, err := os.ReadFile(f.spec.Kernel.Deb)
				if err != nil || !bytes.Equal(got, debContent) || !strings.HasSuffix(f.spec.Kernel.Deb, ".deb") {
					t.Errorf("kernel deb %q: %q, %v", f.spec.Kernel.Deb, got, err)
				}
				if cache := os.Getenv("PACKER_CACHE_DIR"); !strings.HasPrefix(f.spec.Kernel.Deb, cache) {
					t.Errorf("kernel deb %s is not in PACKER_CACHE_DIR %s", f.spec.Kernel.Deb, cache)
				}
			},
		},
		{
			name:    "kernel checksum mismatch fails before any output",
			opts:    map[string]interface{}{"kernel_url": srv.URL + "/linux-image.deb", "kernel_checksum": badSum},
			wantErr: "checksum",
		},
		{
			name: "verify boots the result",
			opts: map[string]interface{}{"verify": true, "ports": []int{8080}},
			verify: func(ctx context.Context, res *builder.Result, o verify.Options) (*verify.Report, error) {
				if len(res.Files) == 0 || res.Files[0].Role != builder.RoleBoot {
					return nil, fmt.Errorf("verify got %+v", res)
				}
				return &verify.Report{BootDisk: res.Files[0].Path, Accel: "tcg", BootToHealthy: 7 * time.Second}, nil
			},
			wantOutput: true,
			check: func(t *testing.T, f *fakeBuild, ui string) {
				if !strings.Contains(ui, "Verified ") || !strings.Contains(ui, "tcg") {
					t.Errorf("UI output lacks the verification:\n%s", ui)
				}
			},
		},
		{
			name: "failed verification removes the output directory",
			opts: map[string]interface{}{"verify": true, "ports": []int{8080}},
			verify: func(ctx context.Context, res *builder.Result, o verify.Options) (*verify.Report, error) {
				return nil, fmt.Errorf("app never answered: %w", verify.ErrUnhealthy)
			},
			wantErr: "never answered",
		},
		{
			name:    "engine error removes the output directory",
			fail:    errors.New("app hello: not an ELF executable"),
			wantErr: "not an ELF executable",
		},
		{
			name:    "cancellation removes the output directory",
			block:   true,
			cancel:  true,
			wantErr: "cancel",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PACKER_CACHE_DIR", t.TempDir())
			out := filepath.Join(t.TempDir(), "output-web")
			raw := map[string]interface{}{"app_path": appFile, "output_directory": out}
			for k, v := range tt.opts {
				raw[k] = v
			}
			b := prepared(t, raw)
			f := &fakeBuild{block: tt.block, fail: tt.fail, started: make(chan struct{})}
			b.build = f.build
			b.verify = tt.verify
			if b.verify == nil {
				b.verify = func(context.Context, *builder.Result, verify.Options) (*verify.Report, error) {
					t.Error("verify called without the verify option")
					return nil, errors.New("unexpected verify")
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tt.cancel {
				go func() {
					<-f.started
					cancel()
				}()
			}
			ui, uiOut := testUI()
			art, err := b.Run(ctx, ui, &packersdk.MockHook{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.wantErr)) {
					t.Errorf("Run error = %v, want one containing %q", err, tt.wantErr)
				}
				if art != nil {
					t.Errorf("Run returned an artifact with an error: %v", art)
				}
			} else if err != nil {
				t.Fatalf("Run: %v\n%s", err, uiOut)
			}
			_, statErr := os.Stat(out)
			if (statErr == nil) != tt.wantOutput {
				t.Errorf("output directory exists = %v, want %v", statErr == nil, tt.wantOutput)
			}
			if tt.wantOutput {
				if got := art.Files(); len(got) != 3 || got[0] != filepath.Join(out, "hello.raw") {
					t.Errorf("artifact files = %v", got)
				}
			}
			if tt.check != nil {
				tt.check(t, f, uiOut.String())
			}
		})
	}
}

func TestRunRefusesExistingOutputWithoutForce(t *testing.T) {
	appFile, _, _ := fixture(t)
	out := t.TempDir()
	keep := filepath.Join(out, "keep")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := prepared(t, map[string]interface{}{"app_path": appFile, "output_directory": out})
	f := &fakeBuild{}
	b.build = f.build
	ui, _ := testUI()
	if _, err := b.Run(context.Background(), ui, &packersdk.MockHook{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("Run error = %v, want output directory exists", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("existing output directory was touched: %v", err)
	}
}

func TestUIWriter(t *testing.T) {
	ui, out := testUI()
	w := &uiWriter{ui: ui}
	for _, chunk := range []string{"one\ntw", "o\n", "\n", "three"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "three") {
		t.Error("partial line sent before Flush")
	}
	w.Flush()
	got := strings.Fields(out.String())
	want := []string{"one", "two", "three"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("UI got %q, want %q", got, want)
	}
}

func TestURLExt(t *testing.T) {
	for in, want := range map[string]string{
		"https://x/linux.deb":              "deb",
		"https://x/systemd-bootx64.EFI":    "efi",
		"https://x/download?id=3":          "deb",
		"file:///srv/debs/linux-image.deb": "deb",
	} {
		if got := urlExt(in, "deb"); got != want {
			t.Errorf("urlExt(%q) = %q, want %q", in, got, want)
		}
	}
}
