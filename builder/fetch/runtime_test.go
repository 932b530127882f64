package fetch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/debroot"
	"github.com/bootapp/bootapp/internal/elfdeps"
	"github.com/bootapp/bootapp/internal/testutil"
)

func TestCompareVersions(t *testing.T) {
	// Each is less than the next, as dpkg --compare-versions orders them.
	ordered := []string{
		"1.0~rc1",
		"1.0",
		"1.0-1",
		"1.0-1+b1",
		"1.0a",
		"1.2",
		"1.10",
		"18.20.4+dfsg-1~deb12u2",
		"18.20.4+dfsg-1~deb12u3",
		"18.20.4+dfsg-1",
		"20.20.2-1nodesource1",
		"1:0.1",
		"2:1.17-74",
	}
	for i := 0; i+1 < len(ordered); i++ {
		a, b := ordered[i], ordered[i+1]
		if compareVersions(a, b) >= 0 || compareVersions(b, a) <= 0 {
			t.Errorf("compareVersions(%q, %q) wrong", a, b)
		}
	}
	for _, v := range []string{"1.0", "1:2.36-9+deb12u14", "0:1.0"} {
		if compareVersions(v, v) != 0 {
			t.Errorf("compareVersions(%q, itself) != 0", v)
		}
	}
	if compareVersions("0:1.0", "1.0") != 0 || compareVersions("2.36-9+deb12u14", "2.36-9+deb12u7") <= 0 {
		t.Error("epoch 0 or numeric revision parts compared wrongly")
	}
}

func TestParseMadison(t *testing.T) {
	out := []byte(`    libc6 | 2.36-9+deb12u7 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
    libc6 | 2.36-9+deb12u14 | http://deb.debian.org/debian bookworm/main amd64 Packages
   nodejs | 18.20.4+dfsg-1~deb12u3 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
   nodejs | 22.0.0+dfsg-1 | http://deb.debian.org/debian bookworm/main Sources
`)
	got := parseMadison(out)
	want := map[string]string{"libc6": "2.36-9+deb12u14", "nodejs": "18.20.4+dfsg-1~deb12u3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMadison = %v, want %v", got, want)
	}
}

func TestParseDepends(t *testing.T) {
	got := parseDepends("libc6 (>= 2.34), libnode108 (= 18.20.4+dfsg-1~deb12u3),\n default-jre-headless | java8-runtime-headless, python3:any (>= 3.9) [amd64], ")
	want := [][]string{{"libc6"}, {"libnode108"}, {"default-jre-headless", "java8-runtime-headless"}, {"python3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDepends = %q, want %q", got, want)
	}
	if parseDepends("") != nil {
		t.Error("empty field gives groups")
	}
}

func TestDebFile(t *testing.T) {
	if got := debFile("zlib1g", "1:1.2.13.dfsg-1+deb12u1"); got != "zlib1g_1%3a1.2.13.dfsg-1+deb12u1_*.deb" {
		t.Errorf("debFile = %q", got)
	}
	// The glob matches what apt-get download names the file.
	if ok, _ := filepath.Match(debFile("zlib1g", "1:1.2.13.dfsg-1+deb12u1"), "zlib1g_1%3a1.2.13.dfsg-1+deb12u1_amd64.deb"); !ok {
		t.Error("glob does not match apt's file name")
	}
}

func TestRuntimeUnknown(t *testing.T) {
	_, err := Runtime(context.Background(), Options{CacheDir: t.TempDir()}, "python")
	if err == nil || !strings.Contains(err.Error(), "java") || !strings.Contains(err.Error(), "node") {
		t.Errorf("unknown runtime: %v, want an error listing java and node", err)
	}
}

func TestRuntimeIndexRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := cache.ReadRuntimeIndex(dir, "node"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadRuntimeIndex before a fetch: %v, want fs.ErrNotExist", err)
	}
	ix := &cache.RuntimeIndex{Runtime: "node", Roots: []string{"nodejs"}, Packages: []cache.RuntimePackage{
		{Name: "libc6", Version: "2.36-9", File: "libc6_2.36-9_amd64.deb"},
		{Name: "nodejs", Version: "18.20.4", File: "nodejs_18.20.4_amd64.deb"},
	}}
	if err := cache.WriteRuntimeIndex(dir, ix); err != nil {
		t.Fatal(err)
	}
	got, err := cache.ReadRuntimeIndex(dir, "node")
	if err != nil || !reflect.DeepEqual(got, ix) {
		t.Errorf("read back %+v, %v; want %+v", got, err, ix)
	}
	if p := filepath.Join(dir, cache.Runtimes, "node.json"); cache.RuntimeIndexPath(dir, "node") != p {
		t.Errorf("index path %s, want %s", cache.RuntimeIndexPath(dir, "node"), p)
	}
	if d := got.Debs(dir); d[1] != filepath.Join(dir, cache.Debs, "nodejs_18.20.4_amd64.deb") {
		t.Errorf("Debs = %v", d)
	}
	bad := &cache.RuntimeIndex{Runtime: "node", Packages: []cache.RuntimePackage{{Name: "x", File: "../x.deb"}}}
	if err := cache.WriteRuntimeIndex(dir, bad); err == nil {
		t.Error("a file name with a directory was accepted")
	}
	if err := cache.WriteRuntimeIndex(dir, &cache.RuntimeIndex{Runtime: "../x"}); err == nil {
		t.Error("a runtime name with a slash was accepted")
	}
}

// TestRuntimeReal fetches Node.js and Java into the real cache, as
// `mkbootapp fetch --runtime node,java` does, so that the rest of the
// suite finds them there.
func TestRuntimeReal(t *testing.T) {
	testutil.NeedE2E(t, "downloads about 150 MB of Debian packages on the first run and unpacks 400 MB")
	testutil.NeedCommand(t, "apt-get", "run on a Debian or Ubuntu host")
	testutil.NeedCommand(t, "apt-cache", "run on a Debian or Ubuntu host")
	if out, err := exec.Command("apt-cache", "madison", "nodejs", "default-jdk-headless").Output(); err != nil || !bytes.Contains(out, []byte("default-jdk-headless")) {
		testutil.Missing(t, "Debian package lists (apt-cache madison nodejs default-jdk-headless lists nothing)", "apt-get update")
	}
	cacheDir := testutil.CacheDir()
	ctx := context.Background()
	for _, name := range []string{"node", "java"} {
		t.Run(name, func(t *testing.T) {
			var progress bytes.Buffer
			ix, err := Runtime(ctx, Options{CacheDir: cacheDir, Progress: &progress}, name)
			if err != nil {
				t.Fatalf("%v\n%s", err, progress.String())
			}
			t.Logf("%s", progress.String())
			names := map[string]bool{}
			for _, p := range ix.Packages {
				if names[p.Name] {
					t.Errorf("%s listed twice", p.Name)
				}
				names[p.Name] = true
				if _, err := os.Stat(filepath.Join(cacheDir, cache.Debs, p.File)); err != nil {
					t.Errorf("package %s: %v", p.Name, err)
				}
			}
			for _, want := range []string{"libc6", "libstdc++6"} {
				if !names[want] {
					t.Errorf("index lacks %s: %+v", want, ix.Packages)
				}
			}
			for _, r := range ix.Roots {
				if !names[r] {
					t.Errorf("root %s is not among the packages", r)
				}
			}
			if len(ix.Packages) > 60 {
				t.Errorf("%d packages: more than the libraries need", len(ix.Packages))
			}
			read, err := cache.ReadRuntimeIndex(cacheDir, name)
			if err != nil || !reflect.DeepEqual(read, ix) {
				t.Errorf("stored index %+v, %v; want %+v", read, err, ix)
			}

			start := time.Now()
			root, err := debroot.Unpack(ctx, cacheDir, ix.Debs(cacheDir))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("tree %s (warm Unpack %v)", root, time.Since(start))
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Errorf("warm Unpack took %v", d)
			}
			pk, err := debroot.Packages(root)
			if err != nil || len(pk) != len(ix.Packages) {
				t.Errorf("tree packages %d, %v; want %d", len(pk), err, len(ix.Packages))
			}
			// The loader and libraries from the tree, never the host's.
			loader := filepath.Join(root, "lib64/ld-linux-x86-64.so.2")
			libs := filepath.Join(root, "lib/x86_64-linux-gnu") + ":" + filepath.Join(root, "usr/lib/x86_64-linux-gnu")
			run := func(prog string, args ...string) string {
				t.Helper()
				cmd := exec.Command(loader, append([]string{"--inhibit-cache", "--library-path", libs, prog}, args...)...)
				cmd.Env = []string{"PATH=/nonexistent"}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			switch name {
			case "node":
				if !reflect.DeepEqual(ix.Roots, []string{"nodejs"}) {
					t.Errorf("roots %v", ix.Roots)
				}
				node := filepath.Join(root, "usr/bin/node")
				if _, err := elfdeps.Resolve(elfdeps.Options{Root: root}, "/usr/bin/node"); err != nil {
					t.Errorf("closure of usr/bin/node in the tree: %v", err)
				}
				if out := run(node, "--version"); !regexp.MustCompile(`^v\d+\.\d+\.\d+\s*$`).MatchString(out) {
					t.Errorf("node --version printed %q", out)
				}
			case "java":
				var jdk bool
				for _, r := range ix.Roots {
					jdk = jdk || (strings.HasPrefix(r, "openjdk-") && strings.HasSuffix(r, "-jdk-headless"))
				}
				if !jdk || len(ix.Roots) != 2 {
					t.Errorf("roots %v: want the JRE and the JDK", ix.Roots)
				}
				javas, _ := filepath.Glob(filepath.Join(root, "usr/lib/jvm/*/bin/java"))
				jmods, _ := filepath.Glob(filepath.Join(root, "usr/lib/jvm/*/jmods/java.base.jmod"))
				if len(javas) == 0 || len(jmods) == 0 {
					t.Fatalf("tree lacks bin/java (%v) or jmods/java.base.jmod (%v) below usr/lib/jvm", javas, jmods)
				}
				home := filepath.Dir(filepath.Dir(jmods[0]))
				rel, _ := filepath.Rel(root, filepath.Join(home, "bin/java"))
				if _, err := elfdeps.Resolve(elfdeps.Options{Root: root}, "/"+rel); err != nil {
					t.Errorf("closure of %s in the tree: %v", rel, err)
				}
				if out := run(filepath.Join(home, "bin/jlink"), "--version"); !regexp.MustCompile(`^\d+[.\d]*\s*$`).MatchString(out) {
					t.Errorf("jlink --version printed %q", out)
				}
				if out := run(filepath.Join(home, "bin/java"), "-version"); !strings.Contains(out, "OpenJDK") {
					t.Errorf("java -version printed %q", out)
				}
			}

			// Everything is cached now: a second call asks apt-cache
			// only and returns the same index.
			progress.Reset()
			start = time.Now()
			again, err := Runtime(ctx, Options{CacheDir: cacheDir, Progress: &progress}, name)
			t.Logf("warm Runtime(%s): %v", name, time.Since(start))
			if err != nil || !reflect.DeepEqual(again, ix) {
				t.Errorf("second call: %+v, %v; want %+v", again, err, ix)
			}
			if strings.Contains(progress.String(), "apt-get download") {
				t.Errorf("second call downloaded:\n%s", progress.String())
			}
		})
	}
}
