package elfdeps

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/testutil"
)

// sysroot builds, in a temporary directory, a root that is not the host's:
// Fedora's layout (the loader and libc in /usr/lib64, /lib64 a link to it),
// a program in /opt/app/bin with DT_RUNPATH $ORIGIN/../lib and its library
// there, which needs a library only /etc/ld.so.conf.d names.
//
//	/opt/app/bin/prog        NEEDED libhello.so, RUNPATH $ORIGIN/../lib
//	/opt/app/lib/libhello.so NEEDED libdep.so
//	/opt/dep/libdep.so       (named by /etc/ld.so.conf.d/dep.conf)
//	/usr/lib64/{libc.so.6,ld-linux-x86-64.so.2}, /lib64 -> usr/lib64
//
// rpath uses DT_RPATH instead of DT_RUNPATH for prog.
func sysroot(t *testing.T, rpath bool) string {
	t.Helper()
	gcc := testutil.NeedCommand(t, "gcc", "apt-get install -y gcc")
	root := t.TempDir()
	src := t.TempDir()
	for _, d := range []string{"opt/app/bin", "opt/app/lib", "opt/dep", "usr/lib64", "etc/ld.so.conf.d", "usr/lib/x86_64-linux-gnu"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	write(filepath.Join(src, "dep.c"), "int dep(void) { return 1; }\n")
	write(filepath.Join(src, "hello.c"), "int dep(void); int hello(void) { return dep(); }\n")
	write(filepath.Join(src, "prog.c"), "int hello(void); int main(void) { return hello() - 1; }\n")
	run("-shared", "-fPIC", "-o", filepath.Join(root, "opt/dep/libdep.so"), filepath.Join(src, "dep.c"))
	run("-shared", "-fPIC", "-o", filepath.Join(root, "opt/app/lib/libhello.so"), filepath.Join(src, "hello.c"),
		"-L"+filepath.Join(root, "opt/dep"), "-ldep")
	tags := "-Wl,--enable-new-dtags"
	if rpath {
		tags = "-Wl,--disable-new-dtags"
	}
	run("-o", filepath.Join(root, "opt/app/bin/prog"), filepath.Join(src, "prog.c"),
		"-L"+filepath.Join(root, "opt/app/lib"), "-lhello", "-Wl,-rpath-link,"+filepath.Join(root, "opt/dep"),
		"-Wl,-rpath,$ORIGIN/../lib", tags, "-Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2")
	for _, lib := range []string{"libc.so.6", "ld-linux-x86-64.so.2"} {
		data, err := os.ReadFile(filepath.Join("/lib/x86_64-linux-gnu", lib))
		if err != nil {
			t.Skipf("host has no %s: %v", lib, err)
		}
		if err := os.WriteFile(filepath.Join(root, "usr/lib64", lib), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/lib64", filepath.Join(root, "lib64")); err != nil {
		t.Fatal(err)
	}
	// A library of the same name that is no ELF object comes first in
	// the search and must be skipped, as ld.so skips it.
	write(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libdep.so"), "not ELF\n")
	write(filepath.Join(root, "etc/ld.so.conf"), "include ld.so.conf.d/*.conf\n")
	write(filepath.Join(root, "etc/ld.so.conf.d/dep.conf"), "# the dependency\n/opt/dep\n")
	return root
}

func TestSysroot(t *testing.T) {
	root := sysroot(t, false)
	c, err := Resolve(Options{Root: root}, "/opt/app/bin/prog")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/app/bin/prog", "/usr/lib64/ld-linux-x86-64.so.2", "/opt/app/lib/libhello.so", "/usr/lib64/libc.so.6", "/opt/dep/libdep.so"}
	if strings.Join(c.Objects, " ") != strings.Join(want, " ") {
		t.Errorf("objects %v, want %v", c.Objects, want)
	}
	if c.Interp != "/lib64/ld-linux-x86-64.so.2" || !c.Glibc {
		t.Errorf("interp %q glibc %v", c.Interp, c.Glibc)
	}
	// /lib64 is not in Debian's loader's search path (Fedora's has it).
	if strings.Join(c.LibraryPath, ":") != "/lib64:/opt/dep" {
		t.Errorf("library path %v, want /lib64:/opt/dep", c.LibraryPath)
	}
	var link *File
	for i, f := range c.Files {
		if !strings.HasPrefix(f.Host, root) {
			t.Errorf("%s: host path %s outside the root", f.Path, f.Host)
		}
		if f.Path == "/lib64" {
			link = &c.Files[i]
		}
		if strings.Contains(f.Path, "x86_64-linux-gnu") {
			t.Errorf("%s: the non-ELF libdep.so was taken", f.Path)
		}
	}
	if link == nil || link.Link != "usr/lib64" {
		t.Errorf("/lib64 link: %+v", link)
	}
	// Run it: the closure must be what the host's loader needs too.
	if out, err := exec.Command(filepath.Join(root, "usr/lib64/ld-linux-x86-64.so.2"), "--library-path",
		filepath.Join(root, "opt/dep")+":"+filepath.Join(root, "usr/lib64"), filepath.Join(root, "opt/app/bin/prog")).CombinedOutput(); err != nil {
		t.Errorf("run prog with its closure: %v\n%s", err, out)
	}
}

// TestRunpathDirectOnly: DT_RUNPATH applies to the program's own
// dependencies, DT_RPATH also to theirs. With /opt/dep not configured,
// libdep.so (needed by libhello.so, next to it) is found only by RPATH.
func TestRunpathDirectOnly(t *testing.T) {
	for _, rpath := range []bool{false, true} {
		root := sysroot(t, rpath)
		if err := os.Rename(filepath.Join(root, "opt/dep/libdep.so"), filepath.Join(root, "opt/app/lib/libdep.so")); err != nil {
			t.Fatal(err)
		}
		c, err := Resolve(Options{Root: root}, "/opt/app/bin/prog")
		if rpath {
			if err != nil {
				t.Fatalf("RPATH: %v", err)
			}
			if !contains(c.Objects, "/opt/app/lib/libdep.so") {
				t.Errorf("RPATH: objects %v", c.Objects)
			}
			continue
		}
		var me *MissingError
		if !errors.As(err, &me) || me.Name != "libdep.so" || me.NeededBy != "/opt/app/lib/libhello.so" || !errors.Is(err, ErrNotFound) {
			t.Fatalf("RUNPATH: err %v, want libdep.so missing for libhello.so", err)
		}
		if !contains(me.Searched, "/opt/dep") || contains(me.Searched, "/opt/app/lib") {
			t.Errorf("searched %v", me.Searched)
		}
	}
}

func TestMissing(t *testing.T) {
	root := sysroot(t, false)
	if err := os.Remove(filepath.Join(root, "opt/app/lib/libhello.so")); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(Options{Root: root}, "/opt/app/bin/prog")
	var me *MissingError
	if !errors.As(err, &me) || me.Name != "libhello.so" || me.NeededBy != "/opt/app/bin/prog" || me.Searched[0] != "/opt/app/lib" {
		t.Fatalf("err %v, want libhello.so missing for /opt/app/bin/prog", err)
	}
	t.Log(err)
	if err := os.Remove(filepath.Join(root, "usr/lib64/ld-linux-x86-64.so.2")); err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(Options{Root: root}, "/opt/app/bin/prog")
	if !errors.As(err, &me) || !strings.Contains(me.Name, "/lib64/ld-linux-x86-64.so.2") {
		t.Fatalf("err %v, want the loader missing", err)
	}
}

// TestMounts: the program placed at another guest path; $ORIGIN follows
// the guest path, and symbolic links never leave the root.
func TestMounts(t *testing.T) {
	root := sysroot(t, false)
	app := t.TempDir()
	if err := os.Rename(filepath.Join(root, "opt/app"), filepath.Join(app, "app")); err != nil {
		t.Fatal(err)
	}
	// A link that tries to leave the root stays inside it.
	if err := os.Symlink("../../../../../../../../usr/lib64", filepath.Join(root, "opt/dep/up")); err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(Options{Root: root, Mounts: map[string]string{"/app": filepath.Join(app, "app")}, Extra: []string{"opt/dep/up/libc.so.6"}}, "/app/bin/prog")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Files {
		if strings.HasPrefix(f.Path, "/app/") != f.Mounted {
			t.Errorf("%+v: mounted flag", f)
		}
	}
	if !contains(c.Objects, "/app/lib/libhello.so") || !contains(c.Objects, "/usr/lib64/libc.so.6") {
		t.Errorf("objects %v", c.Objects)
	}
}

func TestExtraAndIncompatible(t *testing.T) {
	root := sysroot(t, false)
	if _, err := Resolve(Options{Root: root, Extra: []string{"/nothing/*"}}, "/opt/app/bin/prog"); !errors.Is(err, ErrNotFound) {
		t.Errorf("extra glob matching nothing: %v", err)
	}
	c, err := Resolve(Options{Root: root, Extra: []string{"etc/ld.so.conf.d", "/opt/dep/*.so"}}, "/opt/app/bin/prog")
	if err != nil {
		t.Fatal(err)
	}
	if !contains(paths(c), "/etc/ld.so.conf.d/dep.conf") || !contains(paths(c), "/etc/ld.so.conf.d") {
		t.Errorf("files %v", paths(c))
	}
	// Not ELF at all, as an input.
	if _, err := Resolve(Options{Root: root}, "/etc/ld.so.conf"); !errors.Is(err, ErrNotELF) {
		t.Errorf("non-ELF input: %v", err)
	}
}

func paths(c *Closure) []string {
	var out []string
	for _, f := range c.Files {
		out = append(out, f.Path)
	}
	return out
}
