package verify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image"
	"github.com/bootapp/bootapp/internal/testutil"
)

func TestPickDisk(t *testing.T) {
	files := []builder.File{
		{Path: "a.vmdk", Role: builder.RoleBoot, Format: image.VMDKStream},
		{Path: "a.qcow2", Role: builder.RoleBoot, Format: image.QCOW2},
		{Path: "a.raw", Role: builder.RoleBoot, Format: image.Raw},
		{Path: "d.vmdk", Role: builder.RoleData, Format: image.VMDKSparse},
	}
	tests := []struct {
		name    string
		files   []builder.File
		role    builder.Role
		want    string
		wantErr error
	}{
		{name: "raw preferred", files: files, role: builder.RoleBoot, want: "a.raw"},
		{name: "qcow2 before vmdk", files: files[:2], role: builder.RoleBoot, want: "a.qcow2"},
		{name: "stream vmdk is not bootable", files: files[:1], role: builder.RoleBoot, wantErr: ErrNoBootDisk},
		{name: "data vmdk", files: files, role: builder.RoleData, want: "d.vmdk"},
		{name: "no data", files: files[:3], role: builder.RoleData, want: ""},
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

func TestHealthCheck(t *testing.T) {
	type hc = builder.HealthCheck
	tests := []struct {
		name     string
		spec     builder.Spec
		override *hc
		want     hc
		wantErr  string
	}{
		{name: "spec health", spec: builder.Spec{Health: &hc{Port: 80, Path: "/h", Timeout: time.Second}},
			want: hc{Port: 80, Path: "/h", Timeout: time.Second}},
		{name: "port from app, default timeout", spec: builder.Spec{App: builder.App{Ports: []int{8080, 9090}}},
			want: hc{Port: 8080, Timeout: builder.DefaultHealthTimeout}},
		{name: "override wins", spec: builder.Spec{Health: &hc{Port: 80}}, override: &hc{Port: 81, Path: "/x"},
			want: hc{Port: 81, Path: "/x", Timeout: builder.DefaultHealthTimeout}},
		{name: "no port", spec: builder.Spec{}, wantErr: "no health check port"},
		{name: "bad path", spec: builder.Spec{Health: &hc{Port: 80, Path: "healthz"}}, wantErr: "must start with '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := healthCheck(&builder.Result{Spec: tt.spec}, tt.override)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("healthCheck = %+v, %v; want %+v", got, err, tt.want)
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
		describeHealth(builder.HealthCheck{Port: 8080, Path: "/healthz"}), 2*time.Minute, 500)
	if !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("not ErrUnhealthy: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"app never answered 2xx on GET /healthz port 8080 within 2m0s; last status 500", "the last line\n--- end of console ---"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\nline "); n != ConsoleLines-1 {
		t.Errorf("message shows %d console lines, want %d", n+1, ConsoleLines)
	}
	if err := verifyError(ErrNoShutdown, "", "x"); !strings.Contains(err.Error(), "(no console output)") {
		t.Errorf("empty console not said: %v", err)
	}
}

func TestRunRejectsUnbootableResult(t *testing.T) {
	res := &builder.Result{Files: []builder.File{{Path: "x.vmdk", Role: builder.RoleBoot, Format: image.VMDKStream}},
		Spec: builder.Spec{App: builder.App{Ports: []int{8080}}}}
	if _, err := Run(context.Background(), res, Options{}); !errors.Is(err, ErrNoBootDisk) {
		t.Fatalf("err = %v, want ErrNoBootDisk", err)
	}
	if _, err := Run(context.Background(), nil, Options{}); err == nil {
		t.Fatal("Run(nil) succeeded")
	}
}

// buildVerifyApp builds testdata/verifyapp into an image whose app runs
// with the given mode argument.
func buildVerifyApp(t *testing.T, mode string) *builder.Result {
	t.Helper()
	app := testutil.StaticBinary(t, "./testdata/verifyapp", testutil.BuildOptions{})
	res, err := builder.Build(context.Background(), builder.Spec{
		Name:       "verify-" + mode,
		App:        builder.App{Path: app, Args: []string{mode}, Ports: []int{8080}, StopTimeout: 5 * time.Second},
		Kernel:     builder.KernelSource{Deb: testutil.KernelDeb(t)},
		Bootloader: testutil.LoaderDeb(t),
		CacheDir:   testutil.CacheDir(),
		OutputDir:  filepath.Join(t.TempDir(), "out"),
		DataVolume: builder.DataVolume{Size: 64 << 20},
		Health:     &builder.HealthCheck{Port: 8080, Path: "/healthz", Timeout: 60 * time.Second},
	})
	if err != nil {
		t.Fatalf("build %s: %v", mode, err)
	}
	return res
}

// TestE2ERun builds the healthy app and three broken ones and checks
// that only the healthy one verifies, and that each failure says what was
// expected and shows the console.
func TestE2ERun(t *testing.T) {
	testutil.NeedE2E(t, "builds four images and boots each in QEMU (about 15 s each under TCG)")
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
			data, _ := pickDisk(res.Files, builder.RoleData)
			dataSHA := testutil.FileSHA256(t, data.Path)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			work := t.TempDir()
			rep, err := Run(ctx, res, Options{WorkDir: work})
			checkEmpty(t, work)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				t.Logf("healthy after %s, shutdown %s, total %s (%s)", rep.BootToHealthy.Round(time.Millisecond),
					rep.Shutdown.Round(time.Millisecond), rep.Total.Round(time.Millisecond), rep.Accel)
				if rep.BootToHealthy <= 0 || rep.Shutdown <= 0 || rep.Accel == "" || !strings.Contains(rep.Console, "verifyapp: listening on :8080") {
					t.Errorf("incomplete report: %+v", rep)
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Run err = %v, want %v", err, tt.wantErr)
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
				t.Errorf("Run changed the built data volume %s", data.Path)
			}
		})
	}
}

// TestE2ERunCancel checks that cancelling the context stops the VM
// and returns the context's error.
func TestE2ERunCancel(t *testing.T) {
	testutil.NeedE2E(t, "builds an image and boots it in QEMU")
	res := buildVerifyApp(t, "wrongport")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	work := t.TempDir()
	_, err := Run(ctx, res, Options{WorkDir: work})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	checkEmpty(t, work)
}

// checkEmpty fails the test when Run left files in its work directory.
func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 0 {
		t.Errorf("Run left %v in %s (%v)", left, dir, err)
	}
}
