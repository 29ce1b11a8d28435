package demo_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/streamlab/streamlab/cli"
)

// TestDemoRun is the CI check of the Docker-free demo: a bounded run exits
// 0 and its summary shows windows emitted, dead letters by reason and at
// least one alert.
func TestDemoRun(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s run; covered by the full suite")
	}
	var out, errb bytes.Buffer
	code := cli.Main([]string{"demo", "--duration", "20s", "--refresh", "5s"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errb.String(), out.String())
	}
	s := out.String()
	m := regexp.MustCompile(`summary: (\d+) windows emitted`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no summary:\n%s", s)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Fatalf("no window emitted:\n%s", s)
	}
	if !regexp.MustCompile(`summary: dead letters by reason: .*invalid_json \d+`).MatchString(s) {
		t.Fatalf("no dead letters by reason:\n%s", s)
	}
	a := regexp.MustCompile(`summary: (\d+) alerts`).FindStringSubmatch(s)
	if a == nil || a[1] == "0" {
		t.Fatalf("no alert:\n%s", s)
	}
}
