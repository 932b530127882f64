// Command testsummary reads the output of `go test -json` on standard
// input and prints what a person and CI need from a long test run: one
// line per package (ok, FAIL, no test files) as go test prints it, the
// full output of every failed test and of every package that failed to
// build, then the list of skipped tests with their reasons, and last a
// single line
//
//	N passed, N failed, N skipped
//
// alone on its line, for CI to parse. Tests and subtests count alike. A
// package that fails without a failed test (a build or setup failure, a
// panic or timeout outside any test) counts as one failure. It exits 1
// when anything failed or no test ran at all, else 0.
//
// `make test` runs it as
//
//	go test -json ./... 2>&1 | go run ./internal/cmd/testsummary
//
// Lines that are not JSON (a go command's message on stderr) are copied
// through unchanged.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json), including the
// build events of Go 1.24 and later.
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // fail of a package whose build failed
}

// skip is one skipped test and why.
type skip struct {
	pkg, test, reason string
}

// summary accumulates the events of one run.
type summary struct {
	out                     io.Writer
	passed, failed, skipped int
	skips                   []skip
	testOut                 map[string][]string // pkg + "\x00" + test -> output lines
	buildOut                map[string][]string // import path -> build output
	failedTests             map[string]int      // pkg -> failed tests
	events                  int
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, testOut: map[string][]string{}, buildOut: map[string][]string{}, failedTests: map[string]int{}}
}

// line handles one input line.
func (s *summary) line(l string) {
	var e event
	if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &e) != nil {
		fmt.Fprintln(s.out, l)
		return
	}
	s.events++
	switch e.Action {
	case "build-output":
		s.buildOut[e.ImportPath] = append(s.buildOut[e.ImportPath], e.Output)
		return
	case "build-fail":
		return // reported with the package that needed it
	}
	if e.Test == "" {
		s.packageEvent(e)
		return
	}
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output":
		s.testOut[key] = append(s.testOut[key], e.Output)
	case "pass":
		s.passed++
		delete(s.testOut, key)
	case "fail":
		s.failed++
		s.failedTests[e.Package]++
		fmt.Fprintf(s.out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
		for _, o := range s.testOut[key] {
			io.WriteString(s.out, indent(o))
		}
		delete(s.testOut, key)
	case "skip":
		s.skipped++
		s.skips = append(s.skips, skip{e.Package, e.Test, skipReason(s.testOut[key])})
		delete(s.testOut, key)
	}
}

// packageEvent handles the events of a package as a whole.
func (s *summary) packageEvent(e event) {
	switch e.Action {
	case "output":
		switch strings.TrimSpace(e.Output) {
		case "PASS", "FAIL", "testing: warning: no tests to run":
			return
		}
		io.WriteString(s.out, e.Output)
	case "fail":
		if e.FailedBuild != "" {
			for _, o := range s.buildOut[e.FailedBuild] {
				io.WriteString(s.out, indent(o))
			}
		}
		if s.failedTests[e.Package] == 0 {
			// A build or setup failure, or a panic or timeout outside
			// any test: nothing else counted it.
			s.failed++
		}
	}
}

// skipReason returns what a skipped test logged, without the lines
// go test adds around it.
func skipReason(lines []string) string {
	var r []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		r = append(r, t)
	}
	if len(r) == 0 {
		return "(no reason given)"
	}
	return strings.Join(r, " ")
}

func indent(s string) string {
	if strings.HasPrefix(s, "    ") || s == "\n" {
		return s
	}
	return "    " + s
}

// finish prints the skip list and the counts line and returns the exit
// status.
func (s *summary) finish() int {
	if len(s.skips) > 0 {
		fmt.Fprintf(s.out, "\nSkipped tests (%d):\n", len(s.skips))
		for _, k := range s.skips {
			fmt.Fprintf(s.out, "  SKIP %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	if s.events == 0 {
		fmt.Fprintln(s.out, "testsummary: no go test -json events on standard input: go test did not run")
		s.failed++
	}
	fmt.Fprintf(s.out, "\n%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	if s.failed > 0 {
		return 1
	}
	return 0
}

func main() {
	s := newSummary(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		s.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stdout, "testsummary: read standard input: %v\n", err)
		s.failed++
	}
	os.Exit(s.finish())
}
