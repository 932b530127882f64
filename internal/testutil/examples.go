package testutil

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// thisModule is the import path of this module, which moduleRoot looks for.
const thisModule = "github.com/bootapp/bootapp"

// moduleRoot returns the root directory of this module: the first
// directory, from the working directory (a test's package directory) up,
// whose go.mod declares thisModule.
func moduleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(b) == thisModule {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod of %s in %s or above", thisModule, wd)
		}
	}
}

// modulePath returns the path of the module line of a go.mod file.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// NodeExample copies examples/node (without a node_modules a developer may
// have installed there) into a fresh t.TempDir(), installs its runtime
// dependencies there with `npm ci --omit=dev` from the committed
// package-lock.json, and returns the directory: an app directory as
// `mkbootapp build --runtime node` takes it. npm needs the registry or its
// cache.
func NodeExample(t testing.TB) string {
	t.Helper()
	npm := NeedCommand(t, "npm", "make deps (installs npm)")
	src := filepath.Join(moduleRoot(t), "examples", "node")
	dir := t.TempDir()
	if err := copyTree(dir, src, "node_modules"); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	cmd := exec.Command(npm, "ci", "--omit=dev", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in a copy of %s: %v\n%s", src, err, out)
	}
	return dir
}

// JavaExample builds examples/java with its build.sh (javac and jar, no
// build tool) into a fresh t.TempDir() and returns the path of the
// executable jar, app.jar.
func JavaExample(t testing.TB) string {
	t.Helper()
	NeedCommand(t, "javac", "make deps (installs default-jdk-headless)")
	NeedCommand(t, "jar", "make deps (installs default-jdk-headless)")
	src := filepath.Join(moduleRoot(t), "examples", "java")
	// The go command keys cached test results on the files the test
	// opens, and cannot see the ones javac reads: read them here, so that
	// an edit of the example invalidates a cached pass.
	if err := copyTree(t.TempDir(), src, "build"); err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	script := filepath.Join(src, "build.sh")
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("sh", script, dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", script, dir, err, stdout.Bytes(), stderr.Bytes())
	}
	jar := filepath.Join(dir, "app.jar")
	if got := strings.TrimSpace(stdout.String()); got != jar {
		t.Fatalf("%s printed %q, want the jar's path %s", script, got, jar)
	}
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("%s printed the jar's path but: %v", script, err)
	}
	return jar
}

// copyTree copies the regular files and directories under src into dst
// (which exists), with their permission bits, leaving out directories
// named skip. Other kinds of file are an error.
func copyTree(dst, src, skip string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == skip:
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file or directory", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(target, p, info.Mode().Perm())
	})
}

func copyFile(dst, src string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
