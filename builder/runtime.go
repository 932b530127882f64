package builder

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/bootapp/bootapp/initramfs"
	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/debroot"
	"github.com/bootapp/bootapp/internal/elfdeps"
	"github.com/bootapp/bootapp/internal/jks"
	"github.com/bootapp/bootapp/internal/jlink"
	"github.com/bootapp/bootapp/internal/untar"
)

// The runtimes an app can run on (App.Runtime).
const (
	// RuntimeAuto chooses the runtime from the app (the default).
	RuntimeAuto = "auto"
	// RuntimeNative runs an x86_64 Linux executable.
	RuntimeNative = "native"
	// RuntimeJava runs an executable jar or a main class on a JVM.
	RuntimeJava = "java"
	// RuntimeNode runs a Node.js app.
	RuntimeNode = "node"
)

// Guest paths of the runtimes.
const (
	// javaHome is where the Java runtime lands in the guest.
	javaHome = "/usr/lib/jvm/java"
	// nodeHome is where a Node.js distribution given as
	// App.RuntimePath lands in the guest; Debian's Node.js keeps its
	// own paths (/usr/bin/node).
	nodeHome = "/opt/node"
)

// javaDefaultOptions are the JVM options every Java app starts with: the
// heap follows the guest's RAM, and a JVM out of memory exits (and is
// restarted by the restart policy) instead of limping on.
var javaDefaultOptions = []string{"-XX:MaxRAMPercentage=75", "-XX:+ExitOnOutOfMemoryError"}

// Memory a runtime wants beyond the root file system, in MiB.
const (
	nativeMemoryMiB = 128
	nodeMemoryMiB   = 256
	javaMemoryMiB   = 768
)

// runtimeLayout is the runtime an app runs on: the executable the init
// starts, and what of the runtime goes into the image.
type runtimeLayout struct {
	kind string
	// exec is the guest path of the runtime's executable (java, node),
	// args what it is given before the app's own arguments.
	exec string
	args []string
	// root stands for the guest's "/" when the runtime's libraries are
	// looked up: the unpacked Debian packages, or App.Sysroot.
	root string
	// mounts are host directories copied whole into the image at guest
	// paths (a linked Java runtime, a RuntimePath).
	mounts map[string]string
	// inputs are the guest paths of the runtime's ELF objects, whose
	// libraries are resolved in root.
	inputs []string
	// extra are guest paths in root (files or directories) the runtime
	// reads besides its ELF objects.
	extra []string
	// cacerts is the guest path of Java's trust store, written from
	// the image's CA bundle instead of the runtime's own.
	cacerts string
	// packages are the runtime's inputs, for the manifest; owners maps
	// the guest paths of the Debian tree's files to the index of their
	// package in packages (nil for a RuntimePath).
	packages []InputPackage
	owners   map[string]int
	// linkedFrom is the guest path of the JDK a Java runtime was linked
	// from, inside root.
	linkedFrom string
	// memoryMiB is what the runtime wants beyond the root file system.
	memoryMiB int
}

// resolvePayload resolves the app of s: a tar archive is unpacked into a
// temporary directory (appLayout.tmp, removed by the caller), the runtime
// is chosen, and the app is checked and resolved for it.
func resolvePayload(ctx context.Context, s *Spec) (_ *appLayout, err error) {
	a := s.App
	var tmp string
	defer func() {
		if err != nil && tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	if fi, serr := os.Stat(a.Path); serr == nil && fi.Mode().IsRegular() && untar.IsArchive(a.Path) {
		if tmp, err = os.MkdirTemp("", "bootapp-app-*"); err != nil {
			return nil, fmt.Errorf("unpack app archive %s: %w", a.Path, err)
		}
		// The directory becomes /app, which the app user must reach
		// (MkdirTemp makes it 0700).
		if err := os.Chmod(tmp, 0o755); err != nil {
			return nil, fmt.Errorf("unpack app archive %s: %w", a.Path, err)
		}
		if _, err := untar.ExtractFile(ctx, a.Path, tmp); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fieldErr(ErrBadApp, "app.path", "unpack app archive %s: %v", a.Path, err)
		}
		a.Path = tmp
	}
	kind, err := detectRuntime(a)
	if err != nil {
		return nil, err
	}
	var l *appLayout
	switch kind {
	case RuntimeJava:
		l, err = resolveJava(ctx, s, a)
	case RuntimeNode:
		l, err = resolveNode(ctx, s, a)
	default:
		l, err = resolveApp(a)
	}
	if err != nil {
		return nil, err
	}
	l.tmp = tmp
	if tmp != "" {
		l.notes = append([]string{fmt.Sprintf("app: unpacked %s", s.App.Path)}, l.notes...)
	}
	return l, nil
}

// detectRuntime returns the runtime of the app: App.Runtime, or for
// "auto" the one its files call for.
func detectRuntime(a App) (string, error) {
	switch a.Runtime {
	case RuntimeNative, RuntimeJava, RuntimeNode:
		return a.Runtime, nil
	case "", RuntimeAuto:
	default:
		return "", specErr("app.runtime", "unknown runtime %q: want auto, native, java or node", a.Runtime)
	}
	if a.MainClass != "" {
		return RuntimeJava, nil
	}
	fi, err := os.Stat(a.Path)
	if err != nil {
		return RuntimeNative, nil // resolveApp names the missing path
	}
	if fi.IsDir() {
		if a.Entrypoint == "" {
			if _, err := os.Stat(filepath.Join(a.Path, "package.json")); err == nil {
				return RuntimeNode, nil
			}
		}
		return RuntimeNative, nil
	}
	if strings.EqualFold(filepath.Ext(a.Path), ".jar") {
		return RuntimeJava, nil
	}
	return RuntimeNative, nil
}

// resolveJava resolves an executable jar or a directory of classes and
// jars with a main class, and the Java runtime it runs on.
func resolveJava(ctx context.Context, s *Spec, a App) (*appLayout, error) {
	fi, err := os.Stat(a.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fieldErr(ErrNotFound, "app.path", "%s does not exist: build your app first or fix the path", a.Path)
		}
		return nil, fieldErr(err, "app.path", "%v", err)
	}
	l := &appLayout{src: a.Path, entry: a.Path}
	args := append([]string(nil), javaDefaultOptions...)
	var classpath []string // host paths, for jdeps
	nested := false
	if fi.IsDir() {
		if a.MainClass == "" {
			return nil, specErr("app.main_class", "the Java app %s is a directory: name the class whose main method starts it (the main class), or give an executable jar", a.Path)
		}
		l.isDir = true
		l.guestPath = appInstallDir
		classpath = append(classpath, a.Path)
		for _, g := range []string{"*.jar", "lib/*.jar"} {
			m, _ := filepath.Glob(filepath.Join(a.Path, g))
			classpath = append(classpath, m...)
		}
		args = append(args, "-cp", appInstallDir+":"+appInstallDir+"/*:"+appInstallDir+"/lib/*", a.MainClass)
	} else {
		main, err := jarMainClass(a.Path)
		if err != nil {
			return nil, fieldErr(ErrBadApp, "app.path", "%v: give an executable jar (one whose manifest names its Main-Class)", err)
		}
		if main == "" && a.MainClass == "" {
			return nil, specErr("app.main_class", "the jar %s names no Main-Class in its manifest: rebuild it with one (jar --main-class) or name the main class", a.Path)
		}
		if nested, err = jlink.IsNestedJar(a.Path); err != nil {
			return nil, fieldErr(ErrBadApp, "app.path", "%v", err)
		}
		l.guestPath = appInstallDir + "/" + filepath.Base(a.Path)
		classpath = []string{a.Path}
		if a.MainClass != "" {
			args = append(args, "-cp", l.guestPath, a.MainClass)
		} else {
			args = append(args, "-jar", l.guestPath)
		}
	}
	if err := checkReadable(a.Path); err != nil {
		return nil, err
	}
	rt, notes, err := javaRuntime(ctx, s, a, classpath, nested)
	if err != nil {
		return nil, err
	}
	rt.args = args
	l.runtime = rt
	l.notes = append(l.notes, notes...)
	logf := func(format string, args ...any) { l.notes = append(l.notes, fmt.Sprintf(format, args...)) }
	if l.closure, err = resolveClosure(a, l, true, logf); err != nil {
		return nil, err
	}
	rt.keepUsedPackages(rt.owners, l.closure, rt.linkedFrom)
	return l, nil
}

// jarMainClass returns the Main-Class of the jar at p ("" for none).
func jarMainClass(p string) (string, error) {
	z, err := zip.OpenReader(p)
	if err != nil {
		return "", fmt.Errorf("%s is not a jar: %v", p, err)
	}
	defer z.Close()
	for _, f := range z.File {
		if !strings.EqualFold(f.Name, "META-INF/MANIFEST.MF") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("jar %s: %v", p, err)
		}
		defer rc.Close()
		sc := bufio.NewScanner(io.LimitReader(rc, 1<<20))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Main-Class:"); ok {
				return strings.TrimSpace(v), nil
			}
		}
		return "", nil
	}
	return "", nil
}

// javaRuntime returns the Java runtime of the app: a runtime image jlink
// makes of the modules the app needs, from the JDK of the cached Debian
// packages or of App.RuntimePath (or such a JRE copied as it is).
func javaRuntime(ctx context.Context, s *Spec, a App, classpath []string, nested bool) (*runtimeLayout, []string, error) {
	var notes []string
	rt := &runtimeLayout{kind: RuntimeJava, exec: javaHome + "/bin/java", cacerts: javaHome + "/lib/security/cacerts", memoryMiB: javaMemoryMiB}
	var home string // the JDK or JRE to take the runtime from
	if a.RuntimePath != "" {
		dir, pkg, err := runtimePathDir(ctx, s.CacheDir, a.RuntimePath)
		if err != nil {
			return nil, nil, err
		}
		rt.packages = []InputPackage{pkg}
		rt.root = libraryRoot(a)
		home = dir
	} else {
		root, pkgs, owners, err := cachedRuntime(ctx, s, RuntimeJava)
		if err != nil {
			return nil, nil, err
		}
		rt.root, rt.packages, rt.owners, home = root, pkgs, owners, root
	}
	jdk, err := jlink.Find(home)
	var jre string
	switch {
	case err == nil:
		mods, how, err := javaModules(ctx, s, a, jdk, classpath, nested)
		if err != nil {
			return nil, nil, err
		}
		if rel, err := filepath.Rel(rt.root, jdk.Home); err == nil && a.RuntimePath == "" {
			rt.linkedFrom = "/" + filepath.ToSlash(rel)
		}
		if jre, err = jdk.Link(ctx, filepath.Join(s.CacheDir, "jlink"), mods); err != nil {
			return nil, nil, fieldErr(ErrBadApp, "app.java_modules", "%v", err)
		}
		notes = append(notes, fmt.Sprintf("java: runtime of %d modules (%s) linked from JDK %s: %s", len(mods), how, jdk.Version, strings.Join(mods, " ")))
	case a.RuntimePath != "" && isFile(filepath.Join(home, "bin", "java")):
		if len(a.JavaModules) > 0 {
			return nil, nil, specErr("app.java_modules", "the runtime %s is a JRE without jmods, which jlink cannot link from: give a JDK, or no modules", a.RuntimePath)
		}
		jre = home
		notes = append(notes, fmt.Sprintf("java: runtime %s copied whole (no jmods to link a smaller one from)", home))
	default:
		field := "app.runtime_path"
		if a.RuntimePath == "" {
			field = "app.runtime"
		}
		return nil, nil, fieldErr(ErrBadApp, field, "%v: give a JDK (bin/jlink, jmods) or a JRE (bin/java)", err)
	}
	rt.mounts = map[string]string{javaHome: jre}
	objs, err := elfObjects(jre, javaHome)
	if err != nil {
		return nil, nil, fmt.Errorf("java runtime %s: %w", jre, err)
	}
	rt.inputs = objs
	return rt, notes, nil
}

// javaModules returns the modules of the app's runtime and how they were
// chosen.
func javaModules(ctx context.Context, s *Spec, a App, jdk *jlink.JDK, classpath []string, nested bool) ([]string, string, error) {
	switch {
	case len(a.JavaModules) == 1 && a.JavaModules[0] == "all":
		return jdk.Modules, "all of the JDK's", nil
	case len(a.JavaModules) > 0:
		if missing := jdk.Missing(a.JavaModules); len(missing) > 0 {
			return nil, "", specErr("app.java_modules", "the JDK %s (Java %s) has no module %s", jdk.Home, jdk.Version, strings.Join(missing, ", "))
		}
		return append(append([]string(nil), a.JavaModules...), jlink.Always...), "as given", nil
	case nested:
		return jdk.Complete(jlink.SpringBoot), "the common set for a jar with nested jars, which jdeps cannot see into", nil
	}
	mods, err := jdk.Deps(ctx, filepath.Join(s.CacheDir, "jlink"), classpath)
	if err != nil {
		return nil, "", fieldErr(ErrBadApp, "app.java_modules", "%v: name the modules the app needs", err)
	}
	return mods, "found by jdeps", nil
}

// nodePackage is what the builder reads of a package.json.
type nodePackage struct {
	Main    string            `json:"main"`
	Scripts map[string]string `json:"scripts"`
	Engines map[string]string `json:"engines"`
}

// resolveNode resolves a Node.js app directory (package.json) or a single
// script, and the Node.js runtime it runs on.
func resolveNode(ctx context.Context, s *Spec, a App) (*appLayout, error) {
	fi, err := os.Stat(a.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fieldErr(ErrNotFound, "app.path", "%s does not exist: build your app first or fix the path", a.Path)
		}
		return nil, fieldErr(err, "app.path", "%v", err)
	}
	l := &appLayout{src: a.Path, entry: a.Path}
	var pkg nodePackage
	var scriptArgs []string
	if fi.IsDir() {
		l.isDir = true
		pj := filepath.Join(a.Path, "package.json")
		if b, err := os.ReadFile(pj); err == nil {
			if err := json.Unmarshal(b, &pkg); err != nil {
				return nil, fieldErr(ErrBadApp, "app.path", "%s: %v", pj, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fieldErr(err, "app.path", "%v", err)
		}
		script := a.Entrypoint
		if script == "" {
			script, scriptArgs = nodeMain(a.Path, &pkg)
		}
		if script == "" {
			return nil, specErr("app.entrypoint", "the Node.js app %s has no package.json \"main\" or \"scripts.start\" of the form \"node FILE\", and no index.js: name the script to run as the entrypoint", a.Path)
		}
		rel := filepath.Clean(script)
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, specErr("app.entrypoint", "%q must be a path inside %s", script, a.Path)
		}
		resolved, err := resolveInTree(a.Path, rel)
		if err != nil {
			return nil, err
		}
		l.entry = filepath.Join(a.Path, resolved)
		l.guestPath = appInstallDir + "/" + filepath.ToSlash(rel)
	} else {
		l.guestPath = appInstallDir + "/" + filepath.Base(a.Path)
	}
	if err := checkReadable(l.entry); err != nil {
		return nil, err
	}
	rt := &runtimeLayout{kind: RuntimeNode, memoryMiB: nodeMemoryMiB}
	var version string
	if a.RuntimePath != "" {
		dir, ip, err := runtimePathDir(ctx, s.CacheDir, a.RuntimePath)
		if err != nil {
			return nil, err
		}
		if !isFile(filepath.Join(dir, "bin", "node")) {
			return nil, fieldErr(ErrBadApp, "app.runtime_path", "%s holds no bin/node: give a Node.js distribution (such as node-v18.20.4-linux-x64)", a.RuntimePath)
		}
		rt.packages = []InputPackage{ip}
		rt.root = libraryRoot(a)
		rt.mounts = map[string]string{nodeHome: dir}
		rt.exec = nodeHome + "/bin/node"
		version = nodeDistVersion(dir)
	} else {
		root, pkgs, owners, err := cachedRuntime(ctx, s, RuntimeNode)
		if err != nil {
			return nil, err
		}
		rt.root, rt.packages, rt.owners, rt.exec = root, pkgs, owners, "/usr/bin/node"
		for _, p := range pkgs {
			if p.Name == "nodejs" {
				version = upstreamVersion(p.Version)
			}
		}
		// Debian's Node.js loads some of its own modules (undici for
		// fetch, cjs-module-lexer, acorn) from /usr/share/nodejs.
		rt.extra = debianNodeModules(root)
	}
	rt.inputs = []string{rt.exec}
	if want := pkg.Engines["node"]; want != "" {
		if err := checkEngine(want, version); err != nil {
			field := "app.runtime"
			if a.RuntimePath != "" {
				field = "app.runtime_path"
			}
			return nil, fieldErr(ErrBadApp, field, "%s: package.json asks for Node.js %q (engines.node), the runtime is Node.js %s: %v", a.Path, want, version, err)
		}
	}
	rt.args = append([]string{l.guestPath}, scriptArgs...)
	l.runtime = rt
	l.notes = append(l.notes, fmt.Sprintf("node: Node.js %s runs %s", version, l.guestPath))
	logf := func(format string, args ...any) { l.notes = append(l.notes, fmt.Sprintf(format, args...)) }
	if l.closure, err = resolveClosure(a, l, true, logf); err != nil {
		return nil, err
	}
	rt.keepUsedPackages(rt.owners, l.closure)
	return l, nil
}

// nodeMain returns the script of a Node.js app directory and its
// arguments: what `npm start` runs when scripts.start is "node [OPTIONS]
// FILE [ARGS]", else "main", else index.js.
func nodeMain(dir string, pkg *nodePackage) (string, []string) {
	if start := strings.Fields(pkg.Scripts["start"]); len(start) >= 2 && start[0] == "node" {
		for i, f := range start[1:] {
			if !strings.HasPrefix(f, "-") {
				if strings.ContainsAny(strings.Join(start, " "), "&|;<>$`'\"") {
					break // a shell command line, not a plain node invocation
				}
				return f, start[i+2:]
			}
		}
	}
	if pkg.Main != "" {
		m := pkg.Main
		if isFile(filepath.Join(dir, m)) {
			return m, nil
		}
		for _, ext := range []string{".js", ".cjs", ".mjs", "/index.js"} {
			if isFile(filepath.Join(dir, m+ext)) {
				return m + ext, nil
			}
		}
		return m, nil // reported missing by the caller
	}
	if isFile(filepath.Join(dir, "index.js")) {
		return "index.js", nil
	}
	return "", nil
}

// upstreamVersion returns the upstream part of a Debian version:
// "18.20.4" of "18.20.4+dfsg-1~deb12u3".
func upstreamVersion(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.IndexAny(v, "+~-"); i >= 0 {
		v = v[:i]
	}
	return v
}

// nodeVersionRE matches the version defines of node_version.h.
var nodeVersionRE = regexp.MustCompile(`#define NODE_(MAJOR|MINOR|PATCH)_VERSION (\d+)`)

// nodeDistVersion returns the version of the Node.js distribution at dir,
// from its include/node/node_version.h; "" when it has none.
func nodeDistVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "include", "node", "node_version.h"))
	if err != nil {
		return ""
	}
	v := map[string]string{}
	for _, m := range nodeVersionRE.FindAllStringSubmatch(string(b), -1) {
		if _, ok := v[m[1]]; !ok {
			v[m[1]] = m[2]
		}
	}
	if len(v) != 3 {
		return ""
	}
	return v["MAJOR"] + "." + v["MINOR"] + "." + v["PATCH"]
}

// cachedRuntime returns the unpacked tree of the cached Debian packages of
// runtime (`mkbootapp fetch --runtime`), and the packages for the manifest.
func cachedRuntime(ctx context.Context, s *Spec, runtime string) (string, []InputPackage, map[string]int, error) {
	ix, err := cache.ReadRuntimeIndex(s.CacheDir, runtime)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil, fieldErr(ErrNotCached, "app.runtime", "no %s runtime in the cache %s: fetch it (mkbootapp fetch --runtime %s), or give a runtime path", runtime, s.CacheDir, runtime)
		}
		return "", nil, nil, fieldErr(err, "app.runtime", "%v", err)
	}
	debsDir := filepath.Join(s.CacheDir, cache.Debs)
	var debs []string
	for _, p := range ix.Packages {
		d := filepath.Join(debsDir, p.File)
		if _, err := os.Stat(d); err != nil {
			return "", nil, nil, fieldErr(ErrNotCached, "app.runtime", "the %s runtime's package %s is missing from %s: fetch it again (mkbootapp fetch --runtime %s)", runtime, p.File, debsDir, runtime)
		}
		debs = append(debs, d)
	}
	root, err := debroot.Unpack(ctx, s.CacheDir, debs)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, nil, ctx.Err()
		}
		return "", nil, nil, fieldErr(err, "app.runtime", "unpack the %s runtime: %v", runtime, err)
	}
	pkgs, err := debroot.Packages(root)
	if err != nil {
		return "", nil, nil, fieldErr(err, "app.runtime", "the %s runtime in %s: %v", runtime, root, err)
	}
	var out []InputPackage
	owners := map[string]int{}
	for i, p := range pkgs {
		out = append(out, InputPackage{Path: filepath.Join(debsDir, p.File), Name: p.Name, Version: p.Version, Arch: p.Arch, Size: p.Size, SHA256: p.SHA256})
		for _, f := range p.Files {
			owners[f] = i // a later package's file replaces an earlier one's
		}
	}
	return root, out, owners, nil
}

// keepUsedPackages leaves in rt.packages only the packages the image takes
// files from: those that own a file of the closure or a path below one of
// keep (guest paths, such as the JDK a runtime was linked from). The
// runtime's index holds every package its ELF files may need; a linked
// Java runtime needs a few of them.
func (rt *runtimeLayout) keepUsedPackages(owners map[string]int, c *elfdeps.Closure, keep ...string) {
	if owners == nil {
		return
	}
	used := map[int]bool{}
	if c != nil {
		for _, f := range c.Files {
			if f.Mounted {
				continue
			}
			if i, ok := owners[f.Path]; ok {
				used[i] = true
			}
			if f.Dir { // a directory taken whole
				keep = append(keep, f.Path)
			}
		}
	}
	for p, i := range owners {
		for _, k := range keep {
			if strings.HasPrefix(p, k+"/") {
				used[i] = true
			}
		}
	}
	var out []InputPackage
	for i, p := range rt.packages {
		if used[i] {
			out = append(out, p)
		}
	}
	rt.packages = out
}

// runtimePathDir returns the directory of App.RuntimePath (a tar archive
// is unpacked once into the cache, keyed by its content) and what the
// manifest records of it.
func runtimePathDir(ctx context.Context, cacheDir, p string) (string, InputPackage, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", InputPackage{}, fieldErr(ErrNotFound, "app.runtime_path", "%s: %v: give a JDK, JRE or Node.js directory or tar archive", p, err)
	}
	ip := InputPackage{Path: p}
	if fi.IsDir() {
		return p, ip, nil
	}
	if !untar.IsArchive(p) {
		return "", ip, fieldErr(ErrBadApp, "app.runtime_path", "%s is neither a directory nor a tar archive (.tar, .tar.gz, .tar.xz, .tar.zst)", p)
	}
	sum, err := fileSHA256(p)
	if err != nil {
		return "", ip, fieldErr(err, "app.runtime_path", "%v", err)
	}
	ip.Size, ip.SHA256 = fi.Size(), sum
	dir := filepath.Join(cacheDir, cache.Runtimes, "path-"+sum[:32])
	if _, err := os.Stat(dir); err == nil {
		return singleTop(dir), ip, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", ip, fmt.Errorf("unpack %s: %w", p, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-*")
	if err != nil {
		return "", ip, fmt.Errorf("unpack %s: %w", p, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // a runtime's root, which the app user must reach
		return "", ip, fmt.Errorf("unpack %s: %w", p, err)
	}
	if _, err := untar.ExtractFile(ctx, p, tmp); err != nil {
		if ctx.Err() != nil {
			return "", ip, ctx.Err()
		}
		return "", ip, fieldErr(ErrBadApp, "app.runtime_path", "unpack %s: %v", p, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return "", ip, fmt.Errorf("unpack %s: %w", p, err)
		}
	}
	return singleTop(dir), ip, nil
}

// singleTop returns the one directory dir holds, when it holds nothing
// else (a distribution archive's node-v18.20.4-linux-x64/), else dir.
func singleTop(dir string) string {
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) == 1 && ents[0].IsDir() {
		return filepath.Join(dir, ents[0].Name())
	}
	return dir
}

// libraryRoot is where the libraries of a RuntimePath are looked up.
func libraryRoot(a App) string {
	if a.Sysroot != "" {
		return a.Sysroot
	}
	return "/"
}

// elfObjects returns the guest paths (below guest) of the x86_64 ELF
// executables and shared objects in the host tree dir.
func elfObjects(dir, guest string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, ok := elfObject(p)
		if !ok || info.Class != 2 || info.Machine != 62 { // ELFCLASS64, EM_X86_64
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, path.Join(guest, filepath.ToSlash(rel)))
		return nil
	})
	return out, err
}

// isFile reports whether p is a regular file (symbolic links followed).
func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// checkReadable makes sure the unprivileged app user can read the app
// file p in the guest, where root owns it.
func checkReadable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fieldErr(err, "app.path", "%v", err)
	}
	if fi.Mode().IsRegular() && fi.Mode().Perm()&0o004 == 0 {
		return fieldErr(ErrBadApp, "app.path", "%s has mode %04o: in the guest root owns it and the unprivileged app user could not read it: chmod o+r %s", p, fi.Mode().Perm(), p)
	}
	return nil
}

// fileSHA256 returns the hex SHA-256 of the file at p.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkEngine checks the Node.js version have against the range want of a
// package.json's engines.node (npm's semver ranges).
func checkEngine(want, have string) error {
	if have == "" {
		return fmt.Errorf("the runtime's version is unknown: remove engines.node or give a Node.js distribution with include/node/node_version.h")
	}
	c, err := semver.NewConstraint(want)
	if err != nil {
		return fmt.Errorf("engines.node %q is not a version range: %v", want, err)
	}
	v, err := semver.NewVersion(have)
	if err != nil {
		return fmt.Errorf("runtime version %q: %v", have, err)
	}
	if !c.Check(v) {
		return fmt.Errorf("use a runtime that matches (a Node.js distribution as the runtime path), or widen engines.node")
	}
	return nil
}

// writeRuntime copies the runtime's directories (a linked Java runtime, a
// runtime path) into the image; Java's trust store is left out, written
// by writeJavaTrust from the image's CA bundle.
func writeRuntime(ctx context.Context, w *initramfs.Writer, rt *runtimeLayout, logf func(string, ...any)) error {
	if rt == nil {
		return nil
	}
	guests := make([]string, 0, len(rt.mounts))
	for g := range rt.mounts {
		guests = append(guests, g)
	}
	sort.Strings(guests)
	for _, g := range guests {
		opts := initramfs.TreeOptions{
			Stripped: func(name string, mode fs.FileMode) {
				logf("runtime %s: setuid/setgid bits dropped (%v): root owns every file in the image", name, mode)
			},
			Skip: func(name string) bool { return name == rt.cacerts },
		}
		if err := initramfs.AddTreeOptions(ctx, w, g, rt.mounts[g], opts); err != nil {
			return fieldErr(err, "app.runtime", "copy the %s runtime %s: %v", rt.kind, rt.mounts[g], err)
		}
	}
	return nil
}

// writeJavaTrust writes Java's trust store (lib/security/cacerts, a JKS
// key store with the password "changeit", as the JDK's) holding the
// certificates of the image's CA bundle, so that the JVM trusts what
// every other program of the image trusts. Without a bundle
// (System.CACertificates "none") there is none, and the JVM trusts no
// server either.
func writeJavaTrust(iw *imageWriter, app *appLayout, epoch int64) error {
	rt := app.runtime
	if rt == nil || rt.cacerts == "" {
		return nil
	}
	var certs []*x509.Certificate
	if app.system != nil {
		for _, e := range app.system.entries {
			if e.path == caBundlePath && e.data != nil {
				var err error
				if certs, err = jks.ParsePEM(e.data); err != nil {
					return fieldErr(err, "system.ca_certificates", "CA bundle for Java's trust store: %v", err)
				}
			}
		}
	}
	if len(certs) == 0 {
		return nil // no trust store: Java trusts no server, as the rest of the image
	}
	var b bytes.Buffer
	if err := jks.WriteTrustStore(&b, certs, "changeit", time.Unix(epoch, 0)); err != nil {
		return fmt.Errorf("Java trust store: %w", err)
	}
	return iw.file(rt.cacerts, 0o644, b.Bytes())
}

// debianNodeModules returns the directories below /usr/share/nodejs that
// the libnode of the Debian tree root names as paths
// ("/usr/share/nodejs/undici/..."; root holds them): Debian builds
// Node.js with some bundled modules taken from their own packages.
func debianNodeModules(root string) []string {
	libs, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "x86_64-linux-gnu", "libnode.so.*"))
	seen := map[string]bool{}
	var out []string
	for _, l := range libs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		const prefix = "/usr/share/nodejs/"
		for i := bytes.Index(b, []byte(prefix)); i >= 0; {
			b = b[i+len(prefix):]
			n := 0
			for n < len(b) && n < 256 && isModuleNameByte(b[n]) {
				n++
			}
			name := string(b[:n])
			i = bytes.Index(b, []byte(prefix))
			if n == 0 || n == len(b) || b[n] != '/' {
				continue // not a path into a module's directory
			}
			g := prefix + name
			if seen[g] {
				continue
			}
			seen[g] = true
			if fi, err := os.Stat(filepath.Join(root, g)); err == nil && fi.IsDir() {
				out = append(out, g)
			}
		}
	}
	sort.Strings(out)
	return out
}

// isModuleNameByte reports whether c may be part of an npm package's
// directory name.
func isModuleNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '@' || c == '.' || c == '_' || c == '-'
}
