package main

import (
	"bytes"
	"strings"
	"testing"
)

// A pass, a skip with a reason, a failed subtest (and so its parent) in
// one package, and a package that does not build.
const sample = `{"Action":"start","Package":"ex/a"}
{"Action":"run","Package":"ex/a","Test":"TestOK"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"ex/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"ex/a","Test":"TestOK"}
{"Action":"run","Package":"ex/a","Test":"TestSlow"}
{"Action":"output","Package":"ex/a","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Action":"output","Package":"ex/a","Test":"TestSlow","Output":"    a_test.go:9: slow test: boots QEMU; set BOOTAPP_E2E=1\n"}
{"Action":"output","Package":"ex/a","Test":"TestSlow","Output":"--- SKIP: TestSlow (0.00s)\n"}
{"Action":"skip","Package":"ex/a","Test":"TestSlow"}
{"Action":"run","Package":"ex/a","Test":"TestT"}
{"Action":"run","Package":"ex/a","Test":"TestT/sub"}
{"Action":"output","Package":"ex/a","Test":"TestT/sub","Output":"    a_test.go:20: got 1, want 2\n"}
{"Action":"fail","Package":"ex/a","Test":"TestT/sub"}
{"Action":"fail","Package":"ex/a","Test":"TestT"}
{"Action":"output","Package":"ex/a","Output":"FAIL\n"}
{"Action":"output","Package":"ex/a","Output":"FAIL\tex/a\t0.01s\n"}
{"Action":"fail","Package":"ex/a"}
{"ImportPath":"ex/b [ex/b.test]","Action":"build-output","Output":"# ex/b\n"}
{"ImportPath":"ex/b [ex/b.test]","Action":"build-output","Output":"b.go:3:1: syntax error\n"}
{"ImportPath":"ex/b [ex/b.test]","Action":"build-fail"}
{"Action":"start","Package":"ex/b"}
{"Action":"output","Package":"ex/b","Output":"FAIL\tex/b [build failed]\n"}
{"Action":"fail","Package":"ex/b","FailedBuild":"ex/b [ex/b.test]"}
{"Action":"output","Package":"ex/c","Output":"ok  \tex/c\t0.01s\n"}
{"Action":"pass","Package":"ex/c"}
`

func TestSummary(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		status   int
		last     string
		contains []string
		absent   []string
	}{
		{
			name: "mixed", in: sample, status: 1, last: "1 passed, 3 failed, 1 skipped",
			contains: []string{
				"--- FAIL: TestT/sub (ex/a)\n    a_test.go:20: got 1, want 2\n",
				"FAIL\tex/a\t0.01s\n",
				"FAIL\tex/b [build failed]\n    # ex/b\n    b.go:3:1: syntax error\n",
				"ok  \tex/c\t0.01s\n",
				"SKIP ex/a TestSlow: a_test.go:9: slow test: boots QEMU; set BOOTAPP_E2E=1\n",
			},
			absent: []string{"TestOK", "=== RUN"},
		},
		{
			name: "all passed", status: 0, last: "1 passed, 0 failed, 0 skipped",
			in: `{"Action":"pass","Package":"ex/a","Test":"TestOK"}` + "\n" + `{"Action":"pass","Package":"ex/a"}` + "\n",
		},
		{
			name: "no events", in: "go: cannot find main module\n", status: 1, last: "0 passed, 1 failed, 0 skipped",
			contains: []string{"go: cannot find main module\n", "go test did not run"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := newSummary(&out)
			for _, l := range strings.Split(strings.TrimSuffix(tt.in, "\n"), "\n") {
				s.line(l)
			}
			status := s.finish()
			got := out.String()
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if status != tt.status || lines[len(lines)-1] != tt.last {
				t.Errorf("status %d, last line %q; want %d, %q\n%s", status, lines[len(lines)-1], tt.status, tt.last, got)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got, c) {
					t.Errorf("output lacks %q:\n%s", c, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("output has %q:\n%s", a, got)
				}
			}
			// The skip list comes right before the counts line.
			if i, j := strings.Index(got, "Skipped tests"), strings.LastIndex(got, tt.last); i >= 0 && i > j {
				t.Errorf("skip list after the counts line:\n%s", got)
			}
		})
	}
}
