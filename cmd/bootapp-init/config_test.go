package main

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

func sp(s string) *string { return &s }

func TestParseOverride(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantNil  bool
		wantErr  bool
		env      map[string]*string
		args     []string
		wantArgs bool
	}{
		{name: "empty", in: "  \n", wantNil: true},
		{name: "cloud-config", in: "#cloud-config\nusers: []\n", wantNil: true},
		{name: "script", in: "#!/bin/sh\necho hi\n", wantNil: true},
		{name: "mime", in: "Content-Type: multipart/mixed; boundary=x\n", wantNil: true},
		{name: "json", in: `{"env": {"GREETING": "hello, world", "OLD": null}, "args": ["-v", "x=y"]}`,
			env: map[string]*string{"GREETING": sp("hello, world"), "OLD": nil}, args: []string{"-v", "x=y"}, wantArgs: true},
		{name: "json no args", in: `{"env": {"A": ""}}`, env: map[string]*string{"A": sp("")}},
		{name: "json empty args", in: `{"args": []}`, env: map[string]*string{}, args: []string{}, wantArgs: true},
		{name: "json with BOM", in: "\xef\xbb\xbf{\"env\":{\"A\":\"1\"}}", env: map[string]*string{"A": sp("1")}},
		{name: "env file", in: "# comment\nA=1\r\n\nB = two = 2\nC=\"quoted\"\nexport_D=x\n",
			env: map[string]*string{"A": sp("1"), "B": sp(" two = 2"), "C": sp(`"quoted"`), "export_D": sp("x")}},
		{name: "unknown key", in: `{"env": {}, "uid": 0}`, wantErr: true},
		{name: "entrypoint refused", in: `{"entrypoint": "/bin/sh"}`, wantErr: true},
		{name: "trailing data", in: `{"env": {}} {}`, wantErr: true},
		{name: "bad json", in: `{"env": [1]}`, wantErr: true},
		{name: "bad key", in: `{"env": {"1A": "x"}}`, wantErr: true},
		{name: "key with =", in: `{"env": {"A=B": "x"}}`, wantErr: true},
		{name: "NUL value", in: "{\"env\": {\"A\": \"x\\u0000y\"}}", wantErr: true},
		{name: "NUL arg", in: "{\"args\": [\"x\\u0000\"]}", wantErr: true},
		{name: "env line without =", in: "A=1\njust words\n", wantErr: true},
		{name: "env bad key", in: "A B=1\n", wantErr: true},
		{name: "too long", in: "A=" + strings.Repeat("x", maxOverrideBytes), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOverride([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, errBadOverride) {
					t.Fatalf("err = %v, want errBadOverride", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if o != nil {
					t.Fatalf("got %+v, want nil", o)
				}
				return
			}
			if o == nil {
				t.Fatal("got nil")
			}
			if len(o.env) != len(tt.env) {
				t.Errorf("env %v, want %v", o.env, tt.env)
			}
			for k, v := range tt.env {
				got, ok := o.env[k]
				if !ok || (v == nil) != (got == nil) || (v != nil && *v != *got) {
					t.Errorf("env[%s] = %v, want %v", k, got, v)
				}
			}
			if o.setArgs != tt.wantArgs || !slices.Equal(o.args, tt.args) {
				t.Errorf("args %q (set %v), want %q (set %v)", o.args, o.setArgs, tt.args, tt.wantArgs)
			}
		})
	}
}

// TestApplyOverridesPrecedence checks build time < data volume < cloud
// user-data < fw_cfg, per variable, and that the arguments are replaced
// as a whole by the last source that sets them.
func TestApplyOverridesPrecedence(t *testing.T) {
	parse := func(s string) *override {
		o, err := parseOverride([]byte(s))
		if err != nil || o == nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		return o
	}
	env := []string{"A=build", "B=build", "C=build", "PATH=/bin", "HOME=/data"}
	args := []string{"--build"}
	sources := []overrideSource{
		{name: "data volume", doc: parse("A=data\nB=data\nD=data\n")},
		{name: "aws user-data", doc: parse(`{"env": {"B": "cloud", "C": null}, "args": ["--cloud"]}`)},
		{name: "fw_cfg", doc: parse(`{"env": {"D": "run", "HOME": "/tmp"}}`)},
		{name: "nothing", doc: nil},
	}
	gotEnv, gotArgs, logs := applyOverrides(env, args, sources)
	wantEnv := []string{"A=data", "B=cloud", "PATH=/bin", "HOME=/tmp", "D=run"}
	if !slices.Equal(gotEnv, wantEnv) {
		t.Errorf("env %q, want %q", gotEnv, wantEnv)
	}
	if !slices.Equal(gotArgs, []string{"--cloud"}) {
		t.Errorf("args %q, want [--cloud]", gotArgs)
	}
	if !slices.Equal(env, []string{"A=build", "B=build", "C=build", "PATH=/bin", "HOME=/data"}) {
		t.Errorf("input env changed: %q", env)
	}
	wantLogs := []string{
		"data volume sets A, B, D",
		"aws user-data sets B; removes C; replaces the arguments (1)",
		"fw_cfg sets D, HOME",
	}
	if !slices.Equal(logs, wantLogs) {
		t.Errorf("logs:\n%q\nwant\n%q", logs, wantLogs)
	}
	for _, l := range logs {
		for _, v := range []string{"data", "cloud", "run", "/tmp"} {
			if strings.Contains(strings.TrimPrefix(strings.TrimPrefix(l, "data volume"), "aws user-data"), "="+v) {
				t.Errorf("log line %q shows a value", l)
			}
		}
	}
}

func TestSetEnvDuplicates(t *testing.T) {
	got := setEnv([]string{"A=1", "B=2", "A=3"}, "A", sp("x"))
	if !slices.Equal(got, []string{"A=x", "B=2"}) {
		t.Errorf("got %q", got)
	}
	got = setEnv([]string{"A=1", "B=2", "A=3"}, "A", nil)
	if !slices.Equal(got, []string{"B=2"}) {
		t.Errorf("got %q", got)
	}
}

func TestCheckRootOwned(t *testing.T) {
	tests := []struct {
		uid  uint32
		mode fs.FileMode
		ok   bool
	}{
		{0, 0o644, true},
		{0, 0o600, true},
		{0, 0o755 | fs.ModeDir, true},
		{1000, 0o644, false},
		{0, 0o664, false},
		{0, 0o646, false},
		{0, 0o777 | fs.ModeSymlink, false},
	}
	for _, tt := range tests {
		err := checkRootOwned("f", tt.uid, tt.mode)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errNotTrusted)) {
			t.Errorf("checkRootOwned(uid %d, %v) = %v, want ok %v", tt.uid, tt.mode, err, tt.ok)
		}
	}
}

// FuzzParseOverride feeds arbitrary documents (user-data is outside data)
// to the parser: it must not panic, refusals wrap errBadOverride, and an
// accepted document yields variables execve can pass.
func FuzzParseOverride(f *testing.F) {
	for _, s := range []string{
		`{"env": {"A": "1", "B": null}, "args": ["x"]}`, "A=1\nB=2\n", "#cloud-config\n", "", "{", "=\n",
		"\xef\xbb\xbfA=1", `{"args": null}`, "A=1\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOverride(b)
		if err != nil {
			if !errors.Is(err, errBadOverride) {
				t.Fatalf("error %v does not wrap errBadOverride", err)
			}
			return
		}
		if o == nil {
			return
		}
		env, args, _ := applyOverrides([]string{"PATH=/bin"}, []string{"a"}, []overrideSource{{name: "x", doc: o}})
		for _, kv := range env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.ContainsRune(kv, 0) {
				t.Fatalf("bad variable %q", kv)
			}
		}
		for _, a := range args {
			if strings.ContainsRune(a, 0) {
				t.Fatalf("argument with NUL: %q", a)
			}
		}
	})
}
