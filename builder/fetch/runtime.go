package fetch

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bootapp/bootapp/internal/cache"
	"github.com/bootapp/bootapp/internal/debroot"
	"github.com/bootapp/bootapp/internal/elfdeps"
)

// Runtimes are the names Runtime accepts.
var Runtimes = []string{"java", "node"}

// javaMetas are the metapackages followed to the JDK's versioned
// packages: the runtime, and the development kit whose jmods and jlink
// make an app's small runtime.
var javaMetas = []string{"default-jre-headless", "default-jdk-headless"}

// Runtime fetches the Debian packages of a language runtime, "node"
// (nodejs) or "java" (the openjdk-N-jre-headless and -jdk-headless
// packages that default-jre-headless and default-jdk-headless depend on),
// and of the shared libraries their ELF files need, into CacheDir/debs,
// unpacks them into one tree (internal/debroot) and writes the runtime's
// index (cache.RuntimeIndex) at CacheDir/runtimes/NAME.json.
//
// Each package's version is the highest that the archive offers
// (`apt-cache madison`), whatever the host has installed: a host with a
// newer nodejs from a third-party repository still gets Debian's. Only
// the dependencies the ELF files need are fetched, not the whole Depends
// tree: the root packages are unpacked into a scratch tree, the closure
// of every ELF executable and shared object in them is resolved inside it
// (internal/elfdeps), and for each missing library the Depends and
// Pre-Depends of the package holding the file that needs it are fetched,
// until the closure is complete. Packages in the cache are not downloaded
// again, and a call whose index still names the archive's versions
// returns it after asking apt-cache only.
func Runtime(ctx context.Context, o Options, name string) (*cache.RuntimeIndex, error) {
	if o.CacheDir == "" {
		o.CacheDir = cache.DefaultDir()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if name != "node" && name != "java" {
		return nil, fmt.Errorf("unknown runtime %q: want one of %s", name, strings.Join(Runtimes, ", "))
	}
	for _, c := range []string{"apt-get", "apt-cache"} {
		if _, err := exec.LookPath(c); err != nil {
			return nil, fmt.Errorf("fetch --runtime needs %s (a Debian or Ubuntu host)", c)
		}
	}
	dir := filepath.Join(o.CacheDir, cache.Debs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache %s: %w", dir, err)
	}
	a := &archive{ctx: ctx, dir: dir, progress: o.Progress, versions: map[string]string{}}
	// One apt-cache madison for everything a cached index needs checked
	// (apt-cache takes about 0.5 s a call to load its cache).
	old, oldErr := cache.ReadRuntimeIndex(o.CacheDir, name)
	ask := []string{"nodejs"}
	if name == "java" {
		ask = append([]string(nil), javaMetas...)
	}
	if oldErr == nil {
		for _, p := range old.Packages {
			ask = append(ask, p.Name)
		}
	}
	if err := a.lookup(ask...); err != nil {
		return nil, err
	}
	roots := []string{"nodejs"}
	if name == "java" {
		var err error
		if roots, err = a.followMetas(javaMetas); err != nil {
			return nil, err
		}
	}
	if oldErr == nil {
		if ok, err := a.current(old, roots); err != nil {
			return nil, err
		} else if ok {
			fmt.Fprintf(o.Progress, "cached: runtime %s (%d packages, %s)\n", name, len(old.Packages), cache.RuntimeIndexPath(o.CacheDir, name))
			if _, err := a.tree(o.CacheDir, old); err != nil {
				return nil, err
			}
			return old, nil
		}
	}
	ix, err := a.resolve(o.CacheDir, name, roots)
	if err != nil {
		return nil, err
	}
	if err := cache.WriteRuntimeIndex(o.CacheDir, ix); err != nil {
		return nil, err
	}
	if _, err := a.tree(o.CacheDir, ix); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "runtime %s: %d packages (%s)\n", name, len(ix.Packages), cache.RuntimeIndexPath(o.CacheDir, name))
	return ix, nil
}

// archive asks apt about packages and downloads them into dir.
type archive struct {
	ctx      context.Context
	dir      string
	progress io.Writer
	versions map[string]string // name -> highest version in the archive; "" when none
}

// lookup fills a.versions for names with one `apt-cache madison` call.
func (a *archive) lookup(names ...string) error {
	var ask []string
	for _, n := range names {
		if _, ok := a.versions[n]; !ok && !contains(ask, n) {
			ask = append(ask, n)
		}
	}
	if len(ask) == 0 {
		return nil
	}
	out, err := exec.CommandContext(a.ctx, "apt-cache", append([]string{"madison"}, ask...)...).Output()
	if err != nil {
		return fmt.Errorf("apt-cache madison %s: %w%s\n(run `apt-get update` first)", strings.Join(ask, " "), err, stderr(err))
	}
	for _, n := range ask {
		a.versions[n] = ""
	}
	for n, v := range parseMadison(out) {
		if _, ok := a.versions[n]; ok {
			a.versions[n] = v
		}
	}
	return nil
}

// parseMadison returns the highest version of each binary package in
// `apt-cache madison` output ("name | version | url dist/comp arch
// Packages"); source package lines are skipped.
func parseMadison(out []byte) map[string]string {
	best := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 3 || !strings.HasSuffix(strings.TrimSpace(f[2]), " Packages") {
			continue
		}
		n, v := strings.TrimSpace(f[0]), strings.TrimSpace(f[1])
		if n == "" || v == "" {
			continue
		}
		if cur, ok := best[n]; !ok || compareVersions(v, cur) > 0 {
			best[n] = v
		}
	}
	return best
}

// version returns the archive's highest version of name.
func (a *archive) version(name string) (string, error) {
	if err := a.lookup(name); err != nil {
		return "", err
	}
	v := a.versions[name]
	if v == "" {
		return "", fmt.Errorf("package %s is not in the archive's package lists (apt-cache madison %s lists nothing; run `apt-get update` first)", name, name)
	}
	return v, nil
}

// followMetas returns, for each metapackage, the versioned JDK package
// (openjdk-N-...) it depends on in the archive's version of it.
func (a *archive) followMetas(metas []string) ([]string, error) {
	args := []string{"show"}
	for _, m := range metas {
		v, err := a.version(m)
		if err != nil {
			return nil, err
		}
		args = append(args, m+"="+v)
	}
	out, err := exec.CommandContext(a.ctx, "apt-cache", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache %s: %w%s", strings.Join(args, " "), err, stderr(err))
	}
	depends := map[string]string{}
	for _, stanza := range strings.Split(string(out), "\n\n") {
		var pkg, dep string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Package:"); ok {
				pkg = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "Depends:"); ok {
				dep = v
			}
		}
		if _, seen := depends[pkg]; pkg != "" && !seen {
			depends[pkg] = dep // the first stanza of each
		}
	}
	var roots []string
	for _, m := range metas {
		found := ""
		for _, group := range parseDepends(depends[m]) {
			for _, alt := range group {
				if found == "" && strings.HasPrefix(alt, "openjdk-") {
					found = alt
				}
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s %s depends on no openjdk package (Depends: %s)", m, a.versions[m], strings.TrimSpace(depends[m]))
		}
		roots = append(roots, found)
	}
	return roots, nil
}

// parseDepends splits a Depends field into its groups of alternatives,
// package names only (versions and architecture qualifiers dropped).
func parseDepends(field string) [][]string {
	var out [][]string
	for _, g := range strings.Split(field, ",") {
		var alts []string
		for _, alt := range strings.Split(g, "|") {
			n := strings.TrimSpace(alt)
			if i := strings.IndexAny(n, " \t\n(["); i >= 0 {
				n = n[:i]
			}
			n, _, _ = strings.Cut(n, ":")
			if n != "" {
				alts = append(alts, n)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// debFile returns the glob of NAME=VERSION's file as apt-get download
// names it: NAME_VERSION_ARCH.deb, an epoch's ':' written as "%3a".
func debFile(name, version string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_*.deb"
}

// cached returns the path of NAME=VERSION in the cache, or "".
func (a *archive) cached(name, version string) string {
	m, _ := filepath.Glob(filepath.Join(a.dir, debFile(name, version)))
	if len(m) == 0 {
		return ""
	}
	sort.Strings(m)
	return m[0]
}

// download returns the cached packages name=versions[name], fetching
// the missing ones with one apt-get download.
func (a *archive) download(names []string) (map[string]string, error) {
	paths := map[string]string{}
	var missing []string
	for _, n := range names {
		v, err := a.version(n)
		if err != nil {
			return nil, err
		}
		if p := a.cached(n, v); p != "" {
			paths[n] = p
			fmt.Fprintf(a.progress, "cached: %s\n", p)
			continue
		}
		missing = append(missing, n+"="+v)
	}
	if len(missing) > 0 {
		fmt.Fprintf(a.progress, "apt-get download %s (into %s)\n", strings.Join(missing, " "), a.dir)
		cmd := exec.CommandContext(a.ctx, "apt-get", append([]string{"download", "-q"}, missing...)...)
		cmd.Dir = a.dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("apt-get download %s: %w\n%s\n(run `apt-get update` first if the package lists are missing)", strings.Join(missing, " "), err, strings.TrimSpace(out.String()))
		}
		for _, nv := range missing {
			n, v, _ := strings.Cut(nv, "=")
			p := a.cached(n, v)
			if p == "" {
				return nil, fmt.Errorf("apt-get download %s left no %s in %s", nv, debFile(n, v), a.dir)
			}
			paths[n] = p
			fmt.Fprintf(a.progress, "downloaded: %s\n", p)
		}
	}
	return paths, nil
}

// current reports whether ix still names the archive's packages: the same
// roots, each package at the archive's highest version and in the cache.
func (a *archive) current(ix *cache.RuntimeIndex, roots []string) (bool, error) {
	if strings.Join(ix.Roots, " ") != strings.Join(roots, " ") {
		return false, nil
	}
	var names []string
	for _, p := range ix.Packages {
		names = append(names, p.Name)
	}
	if err := a.lookup(names...); err != nil {
		return false, err
	}
	for _, p := range ix.Packages {
		if a.versions[p.Name] != p.Version {
			fmt.Fprintf(a.progress, "runtime %s: %s %s is not the archive's version %q any more\n", ix.Runtime, p.Name, p.Version, a.versions[p.Name])
			return false, nil
		}
		if fi, err := os.Stat(filepath.Join(a.dir, p.File)); err != nil || !fi.Mode().IsRegular() {
			return false, nil
		}
	}
	return true, nil
}

// tree unpacks the index's packages (a few stat calls when done before).
func (a *archive) tree(cacheDir string, ix *cache.RuntimeIndex) (string, error) {
	root, err := debroot.Unpack(a.ctx, cacheDir, ix.Debs(cacheDir))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(a.progress, "runtime %s: tree %s\n", ix.Runtime, root)
	return root, nil
}

// fetched is a package unpacked into the scratch tree.
type fetched struct {
	path string
	u    *debroot.Unpacked
}

// resolve fetches the roots and the packages their ELF files need, as
// Runtime describes, and returns the index.
func (a *archive) resolve(cacheDir, runtime string, roots []string) (*cache.RuntimeIndex, error) {
	rdir := filepath.Join(cacheDir, cache.Runtimes)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, fmt.Errorf("create cache folder %s: %w", rdir, err)
	}
	scratch, err := os.MkdirTemp(rdir, ".scratch-"+runtime+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	pkgs := map[string]*fetched{}
	owner := map[string]string{} // guest path -> package
	add := func(names []string) error {
		paths, err := a.download(names)
		if err != nil {
			return err
		}
		for _, n := range names {
			u, err := debroot.Extract(a.ctx, scratch, paths[n])
			if err != nil {
				return err
			}
			pkgs[n] = &fetched{path: paths[n], u: u}
			for _, f := range u.Files {
				owner[f] = n
			}
		}
		return nil
	}
	if err := add(roots); err != nil {
		return nil, err
	}
	var inputs []string
	for _, r := range roots {
		objs, err := elfObjects(scratch, pkgs[r].u.Files)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, objs...)
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("runtime %s: the packages %s hold no ELF executable or shared object", runtime, strings.Join(roots, " "))
	}
	fmt.Fprintf(a.progress, "runtime %s: resolving the libraries of %d ELF files\n", runtime, len(inputs))
	depsFetched := map[string]bool{}
	for {
		if err := a.ctx.Err(); err != nil {
			return nil, err
		}
		_, err := elfdeps.Resolve(elfdeps.Options{Root: scratch}, inputs...)
		if err == nil {
			break
		}
		var me *elfdeps.MissingError
		if !errors.As(err, &me) {
			return nil, fmt.Errorf("runtime %s: %w", runtime, err)
		}
		holder := owner[me.NeededBy]
		if holder == "" {
			return nil, fmt.Errorf("runtime %s: %w (and no fetched package holds %s)", runtime, err, me.NeededBy)
		}
		if depsFetched[holder] {
			return nil, fmt.Errorf("runtime %s: %s, needed by %s (package %s), is in none of the packages %s depends on", runtime, me.Name, me.NeededBy, holder, holder)
		}
		depsFetched[holder] = true
		c := pkgs[holder].u.Control
		groups := parseDepends(c.Fields["Pre-Depends"])
		groups = append(groups, parseDepends(c.Fields["Depends"])...)
		var all []string
		for _, g := range groups {
			all = append(all, g...)
		}
		if err := a.lookup(all...); err != nil {
			return nil, err
		}
		var need []string
		for _, g := range groups {
			for _, alt := range g {
				if a.versions[alt] == "" {
					continue // virtual, or unknown to the archive
				}
				if pkgs[alt] == nil && !contains(need, alt) {
					need = append(need, alt)
				}
				break
			}
		}
		fmt.Fprintf(a.progress, "runtime %s: %s needs %s: fetching the dependencies of %s: %s\n", runtime, me.NeededBy, me.Name, holder, strings.Join(need, " "))
		if err := add(need); err != nil {
			return nil, err
		}
	}
	ix := &cache.RuntimeIndex{Runtime: runtime, Roots: roots}
	for _, f := range pkgs {
		ix.Packages = append(ix.Packages, cache.RuntimePackage{Name: f.u.Name, Version: f.u.Version, File: filepath.Base(f.path)})
	}
	sort.Slice(ix.Packages, func(i, j int) bool { return ix.Packages[i].Name < ix.Packages[j].Name })
	return ix, nil
}

// elfObjects returns the files among files (guest paths in root) that are
// x86-64 ELF executables or shared objects.
func elfObjects(root string, files []string) ([]string, error) {
	var out []string
	for _, g := range files {
		p := filepath.Join(root, g)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() < 64 {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		var magic [4]byte
		if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
			f.Close()
			continue
		}
		info, err := elfdeps.Parse(f)
		f.Close()
		if err != nil {
			continue
		}
		if (info.Type == elf.ET_EXEC || info.Type == elf.ET_DYN) && info.Machine == elf.EM_X86_64 && info.Class == elf.ELFCLASS64 {
			out = append(out, g)
		}
	}
	return out, nil
}

// stderr returns an exec.ExitError's standard error, for a message.
func stderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return "\n" + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// compareVersions compares two Debian versions as dpkg does: epoch, then
// upstream version and revision with verrevcmp. It returns <0, 0 or >0.
func compareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := verrevcmp(ea, eb); c != 0 { // epochs are digits
		return c
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func splitVersion(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok {
		epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// order is dpkg's character weight: '~' before the end, which is before
// letters, which are before other characters.
func order(c byte) int {
	switch {
	case isDigit(c), c == 0:
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// verrevcmp is dpkg's comparison of upstream versions and revisions.
func verrevcmp(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if ac != bc {
				return ac - bc
			}
			i, j = i+1, j+1
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i, j = i+1, j+1
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return firstDiff
		}
	}
	return 0
}
