package deploy_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// makeVerbs returns the Makefile's targets in file order.
func makeVerbs(t *testing.T) []string {
	t.Helper()
	var verbs []string
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9][a-zA-Z0-9_-]*):`).FindAllStringSubmatch(readRepoFile(t, "Makefile"), -1) {
		verbs = append(verbs, m[1])
	}
	return verbs
}

// ps1Verbs returns the cases of run.ps1's switch and the keys of its help
// table, in file order.
func ps1Verbs(t *testing.T) (cases, help []string) {
	t.Helper()
	src := readRepoFile(t, "run.ps1")
	for _, m := range regexp.MustCompile(`(?m)^\s*'([a-z0-9-]+)'\s*\{`).FindAllStringSubmatch(src, -1) {
		cases = append(cases, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*'([a-z0-9-]+)'\s*=\s*'`).FindAllStringSubmatch(src, -1) {
		help = append(help, m[1])
	}
	return cases, help
}

func TestMakefileAndRunPs1OfferTheSameVerbs(t *testing.T) {
	mk := makeVerbs(t)
	cases, help := ps1Verbs(t)
	for _, want := range []string{"help", "build", "test", "lint", "fuzz", "bench", "up", "down", "logs", "ps", "demo", "e2e",
		"chaos-malformed", "chaos-late", "chaos-stop-producer", "chaos-start-producer", "chaos-kill-processor", "replay"} {
		if !slices.Contains(mk, want) {
			t.Errorf("the Makefile has no %s target", want)
		}
	}
	if !slices.Equal(mk, cases) {
		t.Errorf("Makefile and run.ps1 differ:\n  Makefile: %v\n  run.ps1:  %v", mk, cases)
	}
	if !slices.Equal(cases, help) {
		t.Errorf("run.ps1's help table does not list its verbs:\n  switch: %v\n  help:   %v", cases, help)
	}
	// `make help` lists the targets that carry a "## " description.
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9][a-zA-Z0-9_-]*):(.*)$`).FindAllStringSubmatch(readRepoFile(t, "Makefile"), -1) {
		if !strings.Contains(m[2], "## ") {
			t.Errorf("Makefile target %s has no \"## description\": make help would not list it", m[1])
		}
	}
}

// verbInvocations returns the streamlab commands the Makefile and run.ps1
// run in the compose tools service (`docker compose run --rm cli ...`).
func verbInvocations(t *testing.T) []invocation {
	t.Helper()
	var out []invocation
	mk := readRepoFile(t, "Makefile")
	// Expand the Makefile's own defaults (CHAOS_COUNT ?= 500), so that the
	// flags in them are checked too.
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+)\s*\??=\s*(.*)$`).FindAllStringSubmatch(mk, -1) {
		vars[m[1]] = m[2]
	}
	expand := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9-]+):[^\n]*\n((?:\t[^\n]*\n?)+)`).FindAllStringSubmatch(mk, -1) {
		for _, line := range strings.Split(m[2], "\n") {
			_, rest, ok := strings.Cut(line, "run --rm cli ")
			if ok {
				rest = expand.ReplaceAllStringFunc(rest, func(v string) string { return vars[v[2:len(v)-1]] })
				out = append(out, invocation{where: "make " + m[1], args: strings.Fields(rest)})
			}
		}
	}
	quoted := regexp.MustCompile(`'([^']*)'`)
	src := readRepoFile(t, "run.ps1")
	verb := ""
	for _, line := range strings.Split(src, "\n") {
		if m := regexp.MustCompile(`^\s*'([a-z0-9-]+)'\s*\{`).FindStringSubmatch(line); m != nil {
			verb = m[1]
		}
		_, rest, ok := strings.Cut(line, "'run', '--rm', 'cli', ")
		if !ok {
			continue
		}
		var args []string
		for _, q := range quoted.FindAllStringSubmatch(rest, -1) {
			args = append(args, q[1])
		}
		out = append(out, invocation{where: "./run.ps1 " + verb, args: args})
	}
	if len(out) == 0 {
		t.Error("found no `docker compose run --rm cli` call in the Makefile or run.ps1: the parser no longer sees them")
	}
	return out
}
