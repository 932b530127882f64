package builder

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeJar writes a jar at p whose manifest holds manifest.
func writeJar(t *testing.T, p, manifest string, extra ...string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	w, err := z.Create("META-INF/MANIFEST.MF")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Manifest-Version: 1.0\r\n" + manifest))
	for _, e := range extra {
		if _, err := z.Create(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestDetectRuntime(t *testing.T) {
	dir := t.TempDir()
	nodeDir := filepath.Join(dir, "node")
	os.Mkdir(nodeDir, 0o755)
	os.WriteFile(filepath.Join(nodeDir, "package.json"), []byte(`{"main":"a.js"}`), 0o644)
	plainDir := filepath.Join(dir, "plain")
	os.Mkdir(plainDir, 0o755)
	jar := filepath.Join(dir, "app.jar")
	writeJar(t, jar, "Main-Class: a.B\r\n")
	exe := filepath.Join(dir, "app")
	os.WriteFile(exe, []byte("\x7fELF"), 0o755)
	for _, tc := range []struct {
		name string
		app  App
		want string
		err  string
	}{
		{"jar", App{Path: jar}, RuntimeJava, ""},
		{"jar upper case", App{Path: filepath.Join(dir, "APP.JAR")}, RuntimeNative, ""}, // missing: resolveApp names it
		{"package.json", App{Path: nodeDir}, RuntimeNode, ""},
		{"package.json with an entrypoint", App{Path: nodeDir, Entrypoint: "bin/x"}, RuntimeNative, ""},
		{"main class", App{Path: plainDir, MainClass: "a.B"}, RuntimeJava, ""},
		{"plain directory", App{Path: plainDir}, RuntimeNative, ""},
		{"executable", App{Path: exe}, RuntimeNative, ""},
		{"explicit", App{Path: exe, Runtime: RuntimeNode}, RuntimeNode, ""},
		{"auto", App{Path: jar, Runtime: RuntimeAuto}, RuntimeJava, ""},
		{"unknown", App{Path: exe, Runtime: "python"}, "", "unknown runtime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detectRuntime(tc.app)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("detectRuntime = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestNodeMain(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"server.js", "index.js", "lib/main.js", "src/index.js"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	for _, tc := range []struct {
		name       string
		pkg        nodePackage
		want       string
		wantArgs   string
		emptyIndex bool
	}{
		{"start", nodePackage{Scripts: map[string]string{"start": "node server.js"}, Main: "lib/main.js"}, "server.js", "", false},
		{"start with options and args", nodePackage{Scripts: map[string]string{"start": "node --enable-source-maps server.js --port 1"}}, "server.js", "--port 1", false},
		{"start is a shell line", nodePackage{Scripts: map[string]string{"start": "node server.js && echo done"}, Main: "lib/main.js"}, "lib/main.js", "", false},
		{"start is not node", nodePackage{Scripts: map[string]string{"start": "nodemon server.js"}, Main: "lib/main.js"}, "lib/main.js", "", false},
		{"main without extension", nodePackage{Main: "lib/main"}, "lib/main.js", "", false},
		{"main is a directory", nodePackage{Main: "src"}, "src/index.js", "", false},
		{"index.js", nodePackage{}, "index.js", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, args := nodeMain(dir, &tc.pkg)
			if got != tc.want || strings.Join(args, " ") != tc.wantArgs {
				t.Fatalf("nodeMain = %q %q, want %q %q", got, args, tc.want, tc.wantArgs)
			}
		})
	}
	if got, _ := nodeMain(t.TempDir(), &nodePackage{}); got != "" {
		t.Fatalf("nodeMain of an empty directory = %q, want none", got)
	}
}

func TestCheckEngine(t *testing.T) {
	for _, tc := range []struct {
		want, have string
		ok         bool
	}{
		{">=18", "18.20.4", true},
		{"^18.0.0", "18.20.4", true},
		{"18.x", "18.20.4", true},
		{">=20", "18.20.4", false},
		{"^16 || ^18", "18.20.4", true},
		{"~18.19", "18.20.4", false},
		{"not a range", "18.20.4", false},
		{">=18", "", false},
	} {
		err := checkEngine(tc.want, tc.have)
		if (err == nil) != tc.ok {
			t.Errorf("checkEngine(%q, %q) = %v, want ok %v", tc.want, tc.have, err, tc.ok)
		}
	}
}

func TestUpstreamVersion(t *testing.T) {
	for in, want := range map[string]string{
		"18.20.4+dfsg-1~deb12u3": "18.20.4",
		"1:2.3-4":                "2.3",
		"17.0.15+6-1~deb12u1":    "17.0.15",
		"20.1.0":                 "20.1.0",
	} {
		if got := upstreamVersion(in); got != want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJarMainClass(t *testing.T) {
	dir := t.TempDir()
	withMain := filepath.Join(dir, "a.jar")
	writeJar(t, withMain, "Created-By: test\r\nMain-Class: com.example.Main\r\n")
	without := filepath.Join(dir, "b.jar")
	writeJar(t, without, "Created-By: test\r\n")
	notJar := filepath.Join(dir, "c.jar")
	os.WriteFile(notJar, []byte("plain text"), 0o644)
	if m, err := jarMainClass(withMain); err != nil || m != "com.example.Main" {
		t.Errorf("jarMainClass(with) = %q, %v", m, err)
	}
	if m, err := jarMainClass(without); err != nil || m != "" {
		t.Errorf("jarMainClass(without) = %q, %v", m, err)
	}
	if _, err := jarMainClass(notJar); err == nil || !strings.Contains(err.Error(), "not a jar") {
		t.Errorf("jarMainClass(not a jar) = %v, want an error", err)
	}
}

func TestGuestMemory(t *testing.T) {
	java := &appLayout{runtime: &runtimeLayout{memoryMiB: javaMemoryMiB}}
	for _, tc := range []struct {
		name   string
		rootfs int64
		app    *appLayout
		want   int
	}{
		{"small native app", 20 << 20, &appLayout{}, 512},
		{"300 MB native app", 300 << 20, &appLayout{}, 768},
		{"java", 60 << 20, java, 1024},
	} {
		if got := guestMemoryMiB(tc.rootfs, tc.app); got != tc.want {
			t.Errorf("%s: guestMemoryMiB = %d, want %d", tc.name, got, tc.want)
		}
	}
	r := &Result{Manifest: "m.json", RootFSBytes: 300 << 20, MemoryMiB: 768}
	if mib, w := r.GuestMemory(0); mib != 768 || w != "" {
		t.Errorf("GuestMemory(0) = %d, %q", mib, w)
	}
	if mib, w := r.GuestMemory(512); mib != 512 || !strings.Contains(w, "at least 768 MiB") {
		t.Errorf("GuestMemory(512) = %d, %q: want a warning naming 768 MiB", mib, w)
	}
	if mib, _ := (&Result{}).GuestMemory(0); mib != 512 {
		t.Errorf("GuestMemory of an old manifest = %d, want 512", mib)
	}
}

// initrdBytes reads the whole initramfs st, every segment.
func initrdBytes(t *testing.T, st *stagedInitramfs) []byte {
	t.Helper()
	b := make([]byte, st.size)
	if n, err := st.ReadAt(b, 0); err != nil || n != len(b) {
		t.Fatalf("read the initramfs: %d of %d bytes, %v", n, len(b), err)
	}
	return b
}

func TestStagedInitramfsReadAt(t *testing.T) {
	st := &stagedInitramfs{}
	want := []byte("base-segment|libraries|app")
	st.add(bytes.NewReader(want[:13]), 13, nil)
	st.add(bytes.NewReader(want[13:23]), 10, nil)
	st.add(bytes.NewReader(want[23:]), int64(len(want)-23), nil)
	if st.size != int64(len(want)) {
		t.Fatalf("size %d, want %d", st.size, len(want))
	}
	for off := 0; off <= len(want); off++ {
		for n := 0; off+n <= len(want)+2; n++ {
			p := make([]byte, n)
			got, err := st.ReadAt(p, int64(off))
			end := min(off+n, len(want))
			if got != end-off || !bytes.Equal(p[:got], want[off:end]) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d %q, want %q", n, off, got, p[:got], want[off:end])
			}
			if off+n > len(want) && err != io.EOF {
				t.Fatalf("ReadAt(%d bytes, %d) past the end: err %v, want EOF", n, off, err)
			}
			if off+n <= len(want) && err != nil {
				t.Fatalf("ReadAt(%d bytes, %d): %v", n, off, err)
			}
		}
	}
}

// writeTarGz packs files (name -> content, mode 0755) and a symbolic link
// into a .tar.gz at p.
func writeTarGz(t *testing.T, p string, files map[string][]byte, links map[string]string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	for name, target := range links {
		if err := tw.WriteHeader(&tar.Header{Name: name, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink}); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestResolvePayloadArchive: an app directory given as a tar archive is
// unpacked into a temporary directory and resolved like the directory; a
// broken archive is an error naming it that leaves no directory behind.
func TestResolvePayloadArchive(t *testing.T) {
	bin, err := os.ReadFile(buildGoApp(t, "../examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "hello-1.0.tar.gz")
	writeTarGz(t, archive, map[string][]byte{"bin/hello-1.0": bin}, map[string]string{"bin/hello": "hello-1.0"})
	s, err := Spec{App: App{Path: archive, Entrypoint: "bin/hello"}, CacheDir: t.TempDir()}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "hello-1.0" {
		t.Errorf("default name of %s = %q, want hello-1.0", archive, s.Name)
	}
	l, err := resolvePayload(context.Background(), &s)
	if err != nil {
		t.Fatalf("resolvePayload: %v", err)
	}
	defer os.RemoveAll(l.tmp)
	if l.tmp == "" || !l.isDir || l.src != l.tmp || l.guestPath != "/app/bin/hello" || l.runtime != nil {
		t.Fatalf("layout: tmp %q dir %v src %q guest %q runtime %v", l.tmp, l.isDir, l.src, l.guestPath, l.runtime)
	}
	if got, err := os.Readlink(filepath.Join(l.tmp, "bin", "hello")); err != nil || got != "hello-1.0" {
		t.Errorf("the link in the unpacked app: %q, %v", got, err)
	}

	tmpBefore, _ := filepath.Glob(filepath.Join(os.TempDir(), "bootapp-app-*"))
	broken := filepath.Join(dir, "broken.tar.gz")
	os.WriteFile(broken, []byte("\x1f\x8b\x08\x00 not really gzip"), 0o644)
	s2, _ := Spec{App: App{Path: broken, Entrypoint: "bin/hello"}, CacheDir: t.TempDir()}.WithDefaults()
	_, err = resolvePayload(context.Background(), &s2)
	if !errors.Is(err, ErrBadApp) || !strings.Contains(err.Error(), broken) {
		t.Fatalf("broken archive: %v, want ErrBadApp naming %s", err, broken)
	}
	if tmpAfter, _ := filepath.Glob(filepath.Join(os.TempDir(), "bootapp-app-*")); len(tmpAfter) != len(tmpBefore) {
		t.Errorf("a failed unpack left a directory: %v (before: %v)", tmpAfter, tmpBefore)
	}
}

func TestDebianNodeModules(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "usr", "lib", "x86_64-linux-gnu")
	for _, d := range []string{lib, filepath.Join(root, "usr/share/nodejs/undici"), filepath.Join(root, "usr/share/nodejs/acorn-walk"), filepath.Join(root, "usr/share/nodejs/@types")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	blob := "\x00/usr/share/nodejs/undici/undici-fetch.js\x00junk/usr/share/nodejs/acorn-walk/dist/walk.js\x00" +
		"/usr/share/nodejs/missing/x.js\x00/usr/share/nodejs/\x00/usr/share/nodejs/undici/again.js\x00/usr/share/nodejs/notadir"
	if err := os.WriteFile(filepath.Join(lib, "libnode.so.108"), []byte(blob), 0o644); err != nil {
		t.Fatal(err)
	}
	got := debianNodeModules(root)
	if want := "/usr/share/nodejs/acorn-walk /usr/share/nodejs/undici"; strings.Join(got, " ") != want {
		t.Fatalf("debianNodeModules = %q, want %q", got, want)
	}
}
