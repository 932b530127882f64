package jlink

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// ErrNoJDK is returned by Find for a directory that holds no JDK.
var ErrNoJDK = errors.New("no JDK with jmods found")

// JDK is a Java Development Kit on the build host.
type JDK struct {
	// Home is the JDK's directory (bin/java, bin/jlink, jmods/).
	Home string
	// Version is JAVA_VERSION of its release file ("17.0.15").
	Version string
	// Modules are the modules its jmods directory holds.
	Modules []string
}

// Find returns the JDK at dir, or below dir/usr/lib/jvm (the layout of an
// unpacked Debian package tree).
func Find(dir string) (*JDK, error) {
	cands := []string{dir}
	if m, _ := filepath.Glob(filepath.Join(dir, "usr", "lib", "jvm", "*")); len(m) > 0 {
		sort.Strings(m)
		cands = append(cands, m...)
	}
	for i, c := range cands {
		if fi, err := os.Lstat(c); i > 0 && (err != nil || fi.Mode()&fs.ModeSymlink != 0) {
			continue // another name of a JDK the list has (java-1.17.0-openjdk-amd64)
		}
		if _, err := os.Stat(filepath.Join(c, "jmods", "java.base.jmod")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "bin", "jlink")); err != nil {
			continue
		}
		j := &JDK{Home: c, Version: releaseVersion(c)}
		mods, _ := filepath.Glob(filepath.Join(c, "jmods", "*.jmod"))
		for _, m := range mods {
			j.Modules = append(j.Modules, strings.TrimSuffix(filepath.Base(m), ".jmod"))
		}
		sort.Strings(j.Modules)
		return j, nil
	}
	return nil, fmt.Errorf("%s: %w (want bin/jlink and jmods/java.base.jmod)", dir, ErrNoJDK)
}

// releaseVersion reads JAVA_VERSION from home/release.
func releaseVersion(home string) string {
	b, err := os.ReadFile(filepath.Join(home, "release"))
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "JAVA_VERSION="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Major returns the feature release of Version ("17" of "17.0.15").
func (j *JDK) Major() string {
	v, _, _ := strings.Cut(j.Version, ".")
	return v
}

// moduleRE is a Java module name.
var moduleRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// ValidModule reports whether name is a well-formed module name.
func ValidModule(name string) bool { return moduleRE.MatchString(name) }

// Always are the modules every linked runtime gets besides what jdeps
// finds: elliptic-curve TLS (which most HTTPS servers negotiate) and the
// locale data of the usual date and number formats, which apps reach
// through service lookups that jdeps cannot see.
var Always = []string{"jdk.crypto.ec", "jdk.localedata"}

// SpringBoot are the modules of a runtime for an app whose dependencies
// jdeps cannot see (a Spring Boot jar nests its libraries): java.se and
// the jdk modules such frameworks reach by reflection or as services.
var SpringBoot = []string{"java.se", "jdk.crypto.ec", "jdk.localedata", "jdk.unsupported", "jdk.zipfs", "jdk.management", "jdk.naming.dns", "jdk.httpserver", "jdk.crypto.cryptoki", "jdk.net"}

// IsNestedJar reports whether the jar at path carries its libraries inside
// it as nested jars (Spring Boot's BOOT-INF/lib, One-JAR's lib/), which
// jdeps does not look into.
func IsNestedJar(path string) (bool, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return false, fmt.Errorf("read jar %s: %w", path, err)
	}
	defer z.Close()
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, ".jar") && (strings.HasPrefix(f.Name, "BOOT-INF/lib/") || strings.HasPrefix(f.Name, "WEB-INF/lib/") || strings.HasPrefix(f.Name, "lib/")) {
			return true, nil
		}
	}
	return false, nil
}

// Deps returns the modules the classes and jars in classpath use, as
// `jdeps --print-module-deps` finds them, with Always added and only
// modules the JDK has. The answer is cached in cacheDir by the JDK and the
// content of every input.
func (j *JDK) Deps(ctx context.Context, cacheDir string, classpath []string) ([]string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "jdeps v1 %s %s\n", j.Home, j.Version)
	for _, p := range classpath {
		if err := hashTree(h, p); err != nil {
			return nil, err
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	cached := filepath.Join(cacheDir, "jdeps-"+key+".txt")
	var mods []string
	if b, err := os.ReadFile(cached); err == nil {
		mods = strings.Fields(string(b))
	} else {
		args := []string{"--ignore-missing-deps", "--print-module-deps", "--multi-release", j.Major()}
		args = append(args, classpath...)
		cmd := exec.CommandContext(ctx, filepath.Join(j.Home, "bin", "jdeps"), args...)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("jdeps %s: %w: %s", strings.Join(classpath, " "), err, strings.TrimSpace(stderr.String()+out.String()))
		}
		// The last line holds the comma-separated modules; jdeps may
		// print warnings before it.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for _, m := range strings.Split(strings.TrimSpace(lines[len(lines)-1]), ",") {
			if m = strings.TrimSpace(m); ValidModule(m) {
				mods = append(mods, m)
			}
		}
		if len(mods) == 0 {
			mods = []string{"java.base"}
		}
		if err := os.MkdirAll(cacheDir, 0o755); err == nil {
			tmp := cached + ".tmp" + key
			if os.WriteFile(tmp, []byte(strings.Join(mods, "\n")+"\n"), 0o644) == nil {
				_ = os.Rename(tmp, cached) // a failed cache write only costs time
			}
		}
	}
	return j.Complete(mods), nil
}

// Complete adds Always to mods, drops what the JDK lacks, sorts and
// deduplicates.
func (j *JDK) Complete(mods []string) []string {
	out := append(slices.Clone(mods), Always...)
	out = slices.DeleteFunc(out, func(m string) bool { _, ok := slices.BinarySearch(j.Modules, m); return !ok })
	sort.Strings(out)
	return slices.Compact(out)
}

// Missing returns the modules of mods that the JDK does not have.
func (j *JDK) Missing(mods []string) []string {
	var out []string
	for _, m := range mods {
		if _, ok := slices.BinarySearch(j.Modules, m); !ok {
			out = append(out, m)
		}
	}
	return out
}

// hashTree writes the names, modes and contents of the file or tree at p
// into h.
func hashTree(h io.Writer, p string) error {
	return filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", q, err)
		}
		rel, _ := filepath.Rel(p, q)
		fmt.Fprintf(h, "%s %v\n", rel, d.Type())
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(q)
		if err != nil {
			return fmt.Errorf("read %s: %w", q, err)
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("read %s: %w", q, err)
		}
		return nil
	})
}

// Link returns a runtime image of the given modules (and those they
// require), linked with jlink: no debug information, man pages or
// headers, constant strings shared, and a class-data-sharing archive for the
// default (compressed-oops) heap. It is cached in cacheDir by the JDK and
// the module list, so a second call returns at once.
func (j *JDK) Link(ctx context.Context, cacheDir string, modules []string) (string, error) {
	mods := slices.Clone(modules)
	sort.Strings(mods)
	mods = slices.Compact(mods)
	if missing := j.Missing(mods); len(missing) > 0 {
		return "", fmt.Errorf("the JDK %s has no module %s (it has %s)", j.Home, strings.Join(missing, ", "), strings.Join(j.Modules, " "))
	}
	h := sha256.New()
	fmt.Fprintf(h, "jlink v2 %s %s\n%s\n", j.Home, j.Version, strings.Join(mods, ","))
	if fi, err := os.Stat(filepath.Join(j.Home, "jmods", "java.base.jmod")); err == nil {
		fmt.Fprintf(h, "%d %d\n", fi.Size(), fi.ModTime().UnixNano())
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	dst := filepath.Join(cacheDir, "jre-"+key)
	if _, err := os.Stat(filepath.Join(dst, "bin", "java")); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", cacheDir, err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".jlink-*")
	if err != nil {
		return "", fmt.Errorf("create %s: %w", cacheDir, err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "jre")
	args := []string{
		"--module-path", filepath.Join(j.Home, "jmods"),
		"--add-modules", strings.Join(mods, ","),
		// Constant strings shared (1), not zip (2): the image's encoders
		// compress the modules file across its resources, which zip's
		// per-resource streams hide from them. Measured on the
		// java.base, jdk.crypto.ec, jdk.httpserver, jdk.localedata
		// runtime: modules 19.3 MB, 18.2 MB in 64 KiB deflated grains
		// with zip; 32.6 MB, 14.5 MB with string sharing. The guest
		// holds 13 MB more in RAM and inflates no class.
		"--strip-debug", "--no-man-pages", "--no-header-files", "--compress=1",
		"--generate-cds-archive",
		"--output", out,
	}
	cmd := exec.CommandContext(ctx, filepath.Join(j.Home, "bin", "jlink"), args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("jlink --add-modules %s: %w: %s", strings.Join(mods, ","), err, lastLines(log.String(), 5))
	}
	// The archive for heaps above 32 GiB (no compressed oops) is
	// 10 MB that a typical guest never uses: without it such a JVM
	// starts without sharing.
	_ = os.Remove(filepath.Join(out, "lib", "server", "classes_nocoops.jsa"))
	if err := os.Rename(out, dst); err != nil {
		if _, serr := os.Stat(filepath.Join(dst, "bin", "java")); serr == nil {
			return dst, nil // another build linked the same runtime
		}
		return "", fmt.Errorf("store linked runtime in %s: %w", dst, err)
	}
	return dst, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
