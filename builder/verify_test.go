package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

func TestPickDisk(t *testing.T) {
	files := []File{
		{Path: "a.vmdk", Role: RoleBoot, Format: image.VMDKStream},
		{Path: "a.qcow2", Role: RoleBoot, Format: image.QCOW2},
		{Path: "a.raw", Role: RoleBoot, Format: image.Raw},
		{Path: "d.vmdk", Role: RoleData, Format: image.VMDKSparse},
	}
	tests := []struct {
		name    string
		files   []File
		role    Role
		want    string
		wantErr error
	}{
		{name: "raw preferred", files: files, role: RoleBoot, want: "a.raw"},
		{name: "qcow2 before vmdk", files: files[:2], role: RoleBoot, want: "a.qcow2"},
		{name: "stream vmdk is not bootable", files: files[:1], role: RoleBoot, wantErr: ErrNoBootDisk},
		{name: "data vmdk", files: files, role: RoleData, want: "d.vmdk"},
		{name: "no data", files: files[:3], role: RoleData, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := pickDisk(tt.files, tt.role)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.want == "" && tt.wantErr == nil && err == nil {
				t.Fatalf("got %v, want an error", f)
			}
			if tt.want != "" && (err != nil || f.Path != tt.want) {
				t.Fatalf("pickDisk = %v, %v; want %s", f.Path, err, tt.want)
			}
		})
	}
}

func TestVerifyHealth(t *testing.T) {
	tests := []struct {
		name     string
		spec     Spec
		override *HealthCheck
		want     HealthCheck
		wantErr  string
	}{
		{name: "spec health", spec: Spec{Health: &HealthCheck{Port: 80, Path: "/h", Timeout: time.Second}},
			want: HealthCheck{Port: 80, Path: "/h", Timeout: time.Second}},
		{name: "port from app, default timeout", spec: Spec{App: App{Ports: []int{8080, 9090}}},
			want: HealthCheck{Port: 8080, Timeout: DefaultHealthTimeout}},
		{name: "override wins", spec: Spec{Health: &HealthCheck{Port: 80}}, override: &HealthCheck{Port: 81, Path: "/x"},
			want: HealthCheck{Port: 81, Path: "/x", Timeout: DefaultHealthTimeout}},
		{name: "no port", spec: Spec{}, wantErr: "no health check port"},
		{name: "bad path", spec: Spec{Health: &HealthCheck{Port: 80, Path: "healthz"}}, wantErr: "must start with '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifyHealth(&Result{Spec: tt.spec}, tt.override)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("verifyHealth = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestVerifyErrorShowsConsoleTail(t *testing.T) {
	var console strings.Builder
	for i := 0; i < 150; i++ {
		console.WriteString("line " + strings.Repeat("x", i%3) + "\n")
	}
	console.WriteString("the last line\n")
	err := verifyError(ErrUnhealthy, console.String(), "app never answered %s within %s; last status %d",
		describeHealth(HealthCheck{Port: 8080, Path: "/healthz"}), 2*time.Minute, 500)
	if !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("not ErrUnhealthy: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"app never answered 2xx on GET /healthz port 8080 within 2m0s; last status 500", "the last line\n--- end of console ---"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\nline "); n != VerifyConsoleLines-1 {
		t.Errorf("message shows %d console lines, want %d", n+1, VerifyConsoleLines)
	}
	if err := verifyError(ErrNoShutdown, "", "x"); !strings.Contains(err.Error(), "(no console output)") {
		t.Errorf("empty console not said: %v", err)
	}
}

func TestVerifyRejectsUnbootableResult(t *testing.T) {
	res := &Result{Files: []File{{Path: "x.vmdk", Role: RoleBoot, Format: image.VMDKStream}}, Spec: Spec{App: App{Ports: []int{8080}}}}
	if _, err := Verify(context.Background(), res, VerifyOptions{}); !errors.Is(err, ErrNoBootDisk) {
		t.Fatalf("err = %v, want ErrNoBootDisk", err)
	}
	if _, err := Verify(context.Background(), nil, VerifyOptions{}); err == nil {
		t.Fatal("Verify(nil) succeeded")
	}
}

// buildVerifyApp builds testdata/verifyapp into an image whose app runs
// with the given mode argument.
func buildVerifyApp(t *testing.T, mode string) *Result {
	t.Helper()
	cache, kdeb, ldeb := testInputs(t)
	// Prefer a versioned kernel package beside the one Fetch chose: when
	// the cache also holds the linux-image-cloud-amd64 meta-package, Fetch
	// may return that (seen while Build was in progress).
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(kdeb), "linux-image-[0-9]*-cloud-amd64_*.deb")); len(m) > 0 {
		kdeb = m[len(m)-1]
	}
	app := buildGoApp(t, "./testdata/verifyapp")
	res, err := Build(context.Background(), Spec{
		Name:       "verify-" + mode,
		App:        App{Path: app, Args: []string{mode}, Ports: []int{8080}, StopTimeout: 5 * time.Second},
		Kernel:     KernelSource{Deb: kdeb},
		Bootloader: ldeb,
		CacheDir:   cache,
		OutputDir:  filepath.Join(t.TempDir(), "out"),
		DataVolume: DataVolume{Size: 64 << 20},
		Health:     &HealthCheck{Port: 8080, Path: "/healthz", Timeout: 60 * time.Second},
	})
	if err != nil {
		t.Fatalf("build %s: %v", mode, err)
	}
	return res
}

// TestE2EVerify builds the healthy app and three broken ones and checks
// that only the healthy one verifies, and that each failure says what was
// expected and shows the console.
func TestE2EVerify(t *testing.T) {
	e2e(t)
	tests := []struct {
		mode    string
		wantErr error
		wantMsg []string
	}{
		{mode: "healthy"},
		// Fails as soon as the VM powers off, not at the timeout: the
		// message says so.
		{mode: "exit", wantErr: ErrUnhealthy, wantMsg: []string{"before the app became healthy", "did the app exit at start?", "verifyapp: exiting at start"}},
		{mode: "wrongport", wantErr: ErrUnhealthy, wantMsg: []string{"app never answered 2xx on GET /healthz port 8080 within 1m0s", "verifyapp: listening on :8081"}},
		{mode: "status500", wantErr: ErrUnhealthy, wantMsg: []string{"within 1m0s; last status 500", "verifyapp: listening on :8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			res := buildVerifyApp(t, tt.mode)
			data, _ := pickDisk(res.Files, RoleData)
			dataSHA := testutil.FileSHA256(t, data.Path)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			work := t.TempDir()
			rep, err := Verify(ctx, res, VerifyOptions{WorkDir: work})
			checkEmpty(t, work)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				t.Logf("healthy after %s, shutdown %s, total %s (%s)", rep.BootToHealthy.Round(time.Millisecond),
					rep.Shutdown.Round(time.Millisecond), rep.Total.Round(time.Millisecond), rep.Accel)
				if rep.BootToHealthy <= 0 || rep.Shutdown <= 0 || rep.Accel == "" || !strings.Contains(rep.Console, "verifyapp: listening on :8080") {
					t.Errorf("incomplete report: %+v", rep)
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
				}
				for _, w := range tt.wantMsg {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				if !strings.Contains(err.Error(), "--- console (last 100 lines) ---") {
					t.Errorf("error shows no console:\n%v", err)
				}
				if rep == nil || rep.Console == "" {
					t.Errorf("no console in the failure report")
				}
				first, _, _ := strings.Cut(err.Error(), "\n")
				t.Logf("failed as expected in %s: %s", rep.Total.Round(time.Millisecond), first)
			}
			if got := testutil.FileSHA256(t, data.Path); got != dataSHA {
				t.Errorf("Verify changed the built data volume %s", data.Path)
			}
		})
	}
}

// TestE2EVerifyCancel checks that cancelling the context stops the VM
// and returns the context's error.
func TestE2EVerifyCancel(t *testing.T) {
	e2e(t)
	res := buildVerifyApp(t, "wrongport")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	work := t.TempDir()
	_, err := Verify(ctx, res, VerifyOptions{WorkDir: work})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	checkEmpty(t, work)
}

// checkEmpty fails the test when Verify left files in its work directory.
func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 0 {
		t.Errorf("Verify left %v in %s (%v)", left, dir, err)
	}
}
