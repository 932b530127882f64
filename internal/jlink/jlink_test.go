package jlink

import (
	"archive/zip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/debroot"
	"github.com/bootapp/bootapp/internal/testutil"
)

func writeZip(t *testing.T, p string, names ...string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for _, n := range names {
		if _, err := z.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestIsNestedJar(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		entries []string
		want    bool
	}{
		{"plain", []string{"META-INF/MANIFEST.MF", "example/Main.class"}, false},
		{"spring boot", []string{"META-INF/MANIFEST.MF", "BOOT-INF/classes/a/App.class", "BOOT-INF/lib/spring-core-6.jar"}, true},
		{"war", []string{"WEB-INF/lib/x.jar"}, true},
		{"one-jar", []string{"lib/dep.jar", "main/main.jar"}, true},
		{"a jar as a resource elsewhere", []string{"assets/x.jar"}, false},
	} {
		p := filepath.Join(dir, tc.name+".jar")
		writeZip(t, p, tc.entries...)
		got, err := IsNestedJar(p)
		if err != nil || got != tc.want {
			t.Errorf("%s: IsNestedJar = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := IsNestedJar(filepath.Join(dir, "missing.jar")); err == nil {
		t.Error("IsNestedJar of a missing file: no error")
	}
}

func TestValidModule(t *testing.T) {
	for name, want := range map[string]bool{
		"java.base": true, "jdk.crypto.ec": true, "a": true, "x_1.y": true,
		"": false, "1x": false, "a..b": false, "a.": false, "a b": false, "ALL-MODULE-PATH": false,
	} {
		if got := ValidModule(name); got != want {
			t.Errorf("ValidModule(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestFindAndComplete(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "usr", "lib", "jvm", "java-99-test")
	for _, f := range []string{"jmods/java.base.jmod", "jmods/jdk.crypto.ec.jmod", "jmods/java.sql.jmod", "bin/jlink"} {
		os.MkdirAll(filepath.Join(home, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(home, f), nil, 0o755)
	}
	os.WriteFile(filepath.Join(home, "release"), []byte("IMPLEMENTOR=\"x\"\nJAVA_VERSION=\"99.0.1\"\n"), 0o644)
	j, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	if j.Home != home || j.Version != "99.0.1" || j.Major() != "99" || strings.Join(j.Modules, " ") != "java.base java.sql jdk.crypto.ec" {
		t.Fatalf("Find = %+v", j)
	}
	// jdk.localedata is not in this JDK: left out, not an error.
	if got := j.Complete([]string{"java.sql", "java.base", "java.sql"}); strings.Join(got, " ") != "java.base java.sql jdk.crypto.ec" {
		t.Fatalf("Complete = %v", got)
	}
	if got := j.Missing([]string{"java.sql", "java.desktop"}); strings.Join(got, " ") != "java.desktop" {
		t.Fatalf("Missing = %v", got)
	}
	if _, err := j.Link(context.Background(), t.TempDir(), []string{"java.desktop"}); err == nil || !strings.Contains(err.Error(), "no module java.desktop") {
		t.Fatalf("Link of a missing module: %v", err)
	}
	if _, err := Find(t.TempDir()); err == nil {
		t.Fatal("Find of an empty directory: no error")
	}
}

// TestRealJDK links the runtime of examples/java with the JDK of the
// cached Debian packages (mkbootapp fetch --runtime java), and runs it.
func TestRealJDK(t *testing.T) {
	testutil.NeedE2E(t, "links a Java runtime with the cached Debian JDK")
	cacheDir := testutil.CacheDir()
	ix, err := cache.ReadRuntimeIndex(cacheDir, "java")
	if err != nil {
		testutil.Missing(t, "the Java runtime in the cache", "mkbootapp fetch --runtime java (make deps)")
	}
	var debs []string
	for _, p := range ix.Packages {
		debs = append(debs, filepath.Join(cacheDir, cache.Debs, p.File))
	}
	ctx := context.Background()
	root, err := debroot.Unpack(ctx, cacheDir, debs)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	jar := testutil.JavaExample(t)
	// The builder's own cache folder: a runtime linked here serves the
	// builder's end-to-end tests too.
	work := filepath.Join(cacheDir, "jlink")
	mods, err := j.Deps(ctx, work, []string{jar})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(mods, "java.base") || !slices.Contains(mods, "jdk.httpserver") || !slices.Contains(mods, "jdk.crypto.ec") {
		t.Fatalf("Deps of examples/java = %v, want java.base, jdk.httpserver, jdk.crypto.ec", mods)
	}
	// A second call is answered from the cache: the same modules.
	again, err := j.Deps(ctx, work, []string{jar})
	if err != nil || !slices.Equal(again, mods) {
		t.Fatalf("cached Deps = %v, %v; want %v", again, err, mods)
	}
	jre, err := j.Link(ctx, work, mods)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := j.Link(ctx, work, mods); err != nil || again != jre {
		t.Fatalf("second Link = %q, %v; want the cached %q", again, err, jre)
	}
	out, err := exec.Command(filepath.Join(jre, "bin", "java"), "--list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("%s/bin/java --list-modules: %v\n%s", jre, err, out)
	}
	for _, m := range mods {
		if !strings.Contains(string(out), m+"@") {
			t.Errorf("the linked runtime lacks %s:\n%s", m, out)
		}
	}
	if strings.Contains(string(out), "java.desktop@") {
		t.Errorf("the linked runtime has java.desktop, which the app does not use")
	}
	if _, err := os.Stat(filepath.Join(jre, "lib", "server", "classes.jsa")); err != nil {
		t.Errorf("no CDS archive: %v", err)
	}
}
