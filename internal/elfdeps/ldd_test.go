package elfdeps

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// lddPaths runs ldd on bin and returns the real paths of what it loads.
func lddPaths(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	var paths []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		var p string
		switch {
		case len(f) >= 3 && f[1] == "=>":
			p = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			p = f[0]
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatalf("ldd %s: %s: %v", bin, p, err)
		}
		paths = append(paths, real)
	}
	sort.Strings(paths)
	return paths
}

// TestMatchesLdd resolves real host programs and compares the objects'
// real paths with what ldd (the host's loader) reports.
func TestMatchesLdd(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd on this host")
	}
	bins := []string{"/usr/bin/curl", "/usr/bin/qemu-img", "/usr/bin/python3", "/usr/bin/ssh", "/usr/bin/gpg", "/bin/ls", "/usr/bin/git", "/usr/bin/node"}
	// The JVM's launchers (its libraries, such as libjvm, are loaded
	// with dlopen and found by the JVM itself, which ldd cannot follow).
	jvms, _ := filepath.Glob("/usr/lib/jvm/*/bin/java")
	seen := map[string]bool{}
	for _, j := range jvms {
		if r, err := filepath.EvalSymlinks(j); err == nil && !seen[r] {
			seen[r] = true
			bins = append(bins, r)
		}
	}
	tested := 0
	for _, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		t.Run(filepath.Base(bin), func(t *testing.T) {
			real, err := filepath.EvalSymlinks(bin)
			if err != nil {
				t.Fatal(err)
			}
			want := lddPaths(t, real)
			c, err := Resolve(Options{}, real)
			if err != nil {
				t.Fatal(err)
			}
			// The program, its loader and libraries; not the glibc extras.
			var got []string
			for _, o := range c.Objects {
				if o == real || strings.Contains(o, "/gconv/") || strings.Contains(filepath.Base(o), "libnss_") {
					continue
				}
				got = append(got, o)
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("closure of %s:\n%s\nldd:\n%s", bin, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Every recorded path resolves on the host as recorded.
			for _, f := range c.Files {
				fi, err := os.Lstat(f.Path)
				if err != nil {
					t.Errorf("%s: %v", f.Path, err)
					continue
				}
				if (fi.Mode()&os.ModeSymlink != 0) != (f.Link != "") {
					t.Errorf("%s: link %q, host mode %v", f.Path, f.Link, fi.Mode())
				}
			}
			if !c.Glibc || c.Interp == "" {
				t.Errorf("glibc %v, interp %q", c.Glibc, c.Interp)
			}
		})
		tested++
	}
	if tested < 3 {
		t.Fatalf("only %d of %v on this host: apt-get install curl qemu-utils", tested, bins)
	}
}
