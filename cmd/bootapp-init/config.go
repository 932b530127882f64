package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// Run-time configuration: the app's environment and arguments can be
// changed at boot, without rebuilding the image, by documents from three
// sources. They are applied over the build-time configuration in this
// order, each later one winning per variable (and, for the arguments, as a
// whole):
//
//  1. the data volume: <mount point>/.bootapp/config, honoured only when
//     the file and its directory are owned by root and writable by no one
//     else, so the app (which owns the volume's root) cannot change its
//     own next boot;
//  2. the cloud's user-data (AWS, GCP, Azure, OpenStack metadata
//     services), when the DMI strings name a cloud the init knows;
//  3. QEMU's fw_cfg entry opt/bootapp/config (`mkbootapp run --env/--arg`).
//
// Each document is either JSON,
//
//	{"env": {"KEY": "value", "OTHER": null}, "args": ["--flag", "x"]}
//
// where a null value removes the variable and "args", when present,
// replaces the argument list (an empty list removes every argument), or
// an env file: one KEY=VALUE per line, the value taken literally (no
// quotes or escapes), blank lines and lines starting with '#' ignored.
// User-data meant for other tools (#cloud-config, scripts starting with
// "#!", MIME multipart) is recognised and skipped. A document that is
// ours but malformed is a fatal boot error naming its source: starting
// the app with half of what the operator asked for is worse than not
// starting it. Only the environment and the arguments can be changed:
// never the executable, its user or anything the init does.

// maxOverrideBytes bounds a run-time configuration document.
const maxOverrideBytes = 64 << 10

// errBadOverride marks a malformed run-time configuration document.
var errBadOverride = errors.New("invalid run-time configuration")

// override is one parsed run-time configuration document.
type override struct {
	// env maps each variable to its new value; nil removes it.
	env map[string]*string
	// args replaces the app's arguments when setArgs is true.
	args    []string
	setArgs bool
}

// overrideJSON is the JSON form of an override.
type overrideJSON struct {
	Env  map[string]*string `json:"env"`
	Args *[]string          `json:"args"`
}

// foreignPrefixes start user-data documents that belong to other tools.
var foreignPrefixes = []string{"#cloud-config", "#!", "#include", "#cloud-boothook", "#part-handler",
	"content-type:", "mime-version:", "<powershell>", "<script>"}

// parseOverride parses a run-time configuration document. It returns nil
// and no error for an empty document and for one meant for another tool.
func parseOverride(b []byte) (*override, error) {
	if len(b) > maxOverrideBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", errBadOverride, len(b), maxOverrideBytes)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, nil
	}
	lower := strings.ToLower(string(t[:min(len(t), 32)]))
	for _, p := range foreignPrefixes {
		if strings.HasPrefix(lower, p) {
			return nil, nil
		}
	}
	var o *override
	var err error
	if t[0] == '{' {
		o, err = parseOverrideJSON(t)
	} else {
		o, err = parseEnvFile(t)
	}
	if err != nil {
		return nil, err
	}
	return o, nil
}

func parseOverrideJSON(b []byte) (*override, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j overrideJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v (want {\"env\": {\"KEY\": \"value\"}, \"args\": [...]})", errBadOverride, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: JSON: data after the object", errBadOverride)
	}
	o := &override{env: map[string]*string{}}
	for k, v := range j.Env {
		if err := checkEnvKey(k); err != nil {
			return nil, err
		}
		if v != nil && strings.ContainsRune(*v, 0) {
			return nil, fmt.Errorf("%w: the value of %s holds a NUL byte", errBadOverride, k)
		}
		o.env[k] = v
	}
	if j.Args != nil {
		o.setArgs = true
		o.args = append([]string{}, *j.Args...)
		for i, a := range o.args {
			if strings.ContainsRune(a, 0) {
				return nil, fmt.Errorf("%w: argument %d holds a NUL byte", errBadOverride, i+1)
			}
		}
	}
	return o, nil
}

func parseEnvFile(b []byte) (*override, error) {
	o := &override{env: map[string]*string{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxOverrideBytes+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d is not KEY=VALUE (or a JSON object)", errBadOverride, n)
		}
		k = strings.TrimSpace(k)
		if err := checkEnvKey(k); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("%w: line %d: the value of %s holds a NUL byte", errBadOverride, n, k)
		}
		o.env[k] = &v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadOverride, err)
	}
	return o, nil
}

// checkEnvKey accepts variable names of letters, digits and '_' (and '.'
// and '-', which some programs use) that do not start with a digit.
func checkEnvKey(k string) error {
	if k == "" {
		return fmt.Errorf("%w: empty variable name", errBadOverride)
	}
	for i, r := range k {
		switch {
		case r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-'):
		default:
			return fmt.Errorf("%w: variable name %q: want letters, digits and '_', not starting with a digit", errBadOverride, k)
		}
	}
	return nil
}

// overrideSource is a run-time configuration document and where it came
// from, for the log.
type overrideSource struct {
	name string
	doc  *override
}

// applyOverrides applies the sources in order to the app's environment
// and arguments. It returns the new lists and one log line per source
// that changed something, naming keys but never values.
func applyOverrides(env, args []string, sources []overrideSource) ([]string, []string, []string) {
	env = append([]string(nil), env...)
	var logs []string
	for _, src := range sources {
		o := src.doc
		if o == nil {
			continue
		}
		keys := make([]string, 0, len(o.env))
		for k := range o.env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var set, unset []string
		for _, k := range keys {
			v := o.env[k]
			env = setEnv(env, k, v)
			if v == nil {
				unset = append(unset, k)
			} else {
				set = append(set, k)
			}
		}
		var parts []string
		if len(set) > 0 {
			parts = append(parts, "sets "+strings.Join(set, ", "))
		}
		if len(unset) > 0 {
			parts = append(parts, "removes "+strings.Join(unset, ", "))
		}
		if o.setArgs {
			args = append([]string(nil), o.args...)
			parts = append(parts, fmt.Sprintf("replaces the arguments (%d)", len(o.args)))
		}
		if len(parts) > 0 {
			logs = append(logs, src.name+" "+strings.Join(parts, "; "))
		}
	}
	return env, args, logs
}

// setEnv sets (v non-nil) or removes (v nil) variable k in env, keeping
// the position of an existing entry.
func setEnv(env []string, k string, v *string) []string {
	out := env[:0]
	done := false
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			if v != nil && !done {
				out = append(out, k+"="+*v)
				done = true
			}
			continue
		}
		out = append(out, kv)
	}
	if v != nil && !done {
		out = append(out, k+"="+*v)
	}
	return out
}

// errNotTrusted says a data-volume configuration file was ignored because
// the app could have written it.
var errNotTrusted = errors.New("not trusted")

// checkRootOwned accepts a file or directory that only root can change:
// owned by uid 0, not writable by group or others, and not a symbolic
// link.
func checkRootOwned(name string, uid uint32, mode fs.FileMode) error {
	switch {
	case mode&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: %w", name, errNotTrusted)
	case uid != 0:
		return fmt.Errorf("%s is owned by uid %d, not root (the app may have written it): %w", name, uid, errNotTrusted)
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by group or others (mode %04o): %w", name, mode.Perm(), errNotTrusted)
	}
	return nil
}
