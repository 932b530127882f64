package elfstrip

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildHello compiles a small Go program with the given extra flags.
func buildHello(t *testing.T, goarch string, ldflags string) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go toolchain needed to build test binaries: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	prog := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"stripped hello\") }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+ldflags, "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sectionNames(t *testing.T, b []byte) []string {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("stripped output is not valid ELF: %v", err)
	}
	var n []string
	for _, s := range f.Sections {
		n = append(n, s.Name)
	}
	return n
}

func TestStripDebug(t *testing.T) {
	full := buildHello(t, "amd64", "")
	noDWARF := buildHello(t, "amd64", "-w")
	i386 := buildHello(t, "386", "")

	tests := []struct {
		name   string
		in     []byte
		wantOK bool
	}{
		{"go binary with DWARF", full, true},
		{"go binary built with -w", noDWARF, false},
		{"32-bit binary left alone", i386, false},
		{"not ELF", []byte("#!/bin/sh\necho hi\n"), false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, ok, err := StripDebug(tc.in)
			if err != nil {
				t.Fatalf("StripDebug: %v", err)
			}
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				if !bytes.Equal(out, tc.in) {
					t.Fatal("input changed although ok is false")
				}
				return
			}
			if len(out) >= len(tc.in) {
				t.Fatalf("output %d bytes not smaller than input %d", len(out), len(tc.in))
			}
			for _, n := range sectionNames(t, out) {
				if strings.HasPrefix(n, ".debug_") || strings.HasPrefix(n, ".zdebug_") {
					t.Errorf("section %s survived", n)
				}
			}
			for _, want := range []string{".text", ".gopclntab", ".symtab", ".strtab", ".shstrtab"} {
				if !strings.Contains(strings.Join(sectionNames(t, out), " "), want) {
					t.Errorf("section %s lost", want)
				}
			}
			// The program still runs and its symbols still resolve.
			p := filepath.Join(t.TempDir(), "stripped")
			if err := os.WriteFile(p, out, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := exec.Command(p).CombinedOutput()
			if err != nil || string(got) != "stripped hello\n" {
				t.Fatalf("stripped binary: %v, output %q", err, got)
			}
			f, _ := elf.NewFile(bytes.NewReader(out))
			syms, err := f.Symbols()
			if err != nil || len(syms) == 0 {
				t.Fatalf("symbols: %d, %v", len(syms), err)
			}
			found := false
			for _, s := range syms {
				if s.Name == "main.main" {
					found = int(s.Section) < len(f.Sections) && f.Sections[s.Section].Name == ".text"
				}
			}
			if !found {
				t.Error("main.main is not in .text after stripping")
			}
			if tool, err := exec.LookPath("readelf"); err == nil {
				if b, err := exec.Command(tool, "-SW", p).CombinedOutput(); err != nil || strings.Contains(string(b), "Warning") {
					t.Errorf("readelf -S: %v\n%s", err, b)
				}
			}
		})
	}
}

func TestStripDebugCorrupt(t *testing.T) {
	full := buildHello(t, "amd64", "")
	// Truncations and header corruptions must give an error or the input
	// back, never a panic.
	for _, n := range []int{0, 10, 63, 64, 100, 4096, len(full) / 2, len(full) - 1} {
		StripDebug(append([]byte(nil), full[:n]...))
	}
	for _, off := range []int{0x20, 0x28, 0x36, 0x38, 0x3a, 0x3c, 0x3e} {
		b := append([]byte(nil), full...)
		for i := 0; i < 8 && off+i < 0x40; i++ {
			b[off+i] = 0xff
		}
		StripDebug(b)
	}
}

func FuzzStripDebug(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, ok, err := StripDebug(b)
		if err == nil && !ok && !bytes.Equal(out, b) {
			t.Fatal("unchanged result differs from input")
		}
	})
}
