package deploy_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// workflow is the part of a GitHub Actions workflow these tests read.
type workflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			If   string            `yaml:"if"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestWorkflowRunsTheVerbs: the CI workflow runs what a user runs (make
// test, make e2e, make up + make smoke), every make verb and script it
// calls exists, the compose job keeps the logs of a failure and always
// removes the stack with its volumes, and it builds with the Go release
// the Dockerfile pins. actionlint (make lint) checks the rest of it.
func TestWorkflowRunsTheVerbs(t *testing.T) {
	var w workflow
	if err := yaml.Unmarshal([]byte(readRepoFile(t, ".github/workflows/ci.yml")), &w); err != nil {
		t.Fatal(err)
	}
	verbs := makeVerbs(t)
	makeCall := regexp.MustCompile(`(?m)^\s*make\s+([a-z0-9-]+)(.*)$`)
	script := regexp.MustCompile(`(?m)^\s*((?:scripts|\.ci)/\S+)`)
	runs := map[string][]string{} // job -> make calls in order, with arguments
	for job, j := range w.Jobs {
		for i, s := range j.Steps {
			for _, m := range makeCall.FindAllStringSubmatch(s.Run, -1) {
				if !slices.Contains(verbs, m[1]) {
					t.Errorf("job %s step %d runs `make %s`, which the Makefile does not have", job, i+1, m[1])
				}
				call := strings.TrimSpace("make " + m[1] + m[2])
				if s.If != "" {
					call += " [if " + s.If + "]"
				}
				runs[job] = append(runs[job], call)
			}
			for _, m := range script.FindAllStringSubmatch(s.Run, -1) {
				if fi, err := os.Stat(repoPath(m[1])); err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("job %s step %d runs %s, which is not an executable file of the repository", job, i+1, m[1])
				}
			}
			if s.Uses == "actions/setup-go@v5" && s.With["go-version"] != "${{ env.GO_VERSION }}" {
				t.Errorf("job %s: setup-go must use env.GO_VERSION, got %q", job, s.With["go-version"])
			}
		}
	}
	for job, want := range map[string][]string{
		"test":    {"make test"},
		"e2e":     {"make e2e"},
		"compose": {"make up", "make smoke", "make down DOWN_ARGS=-v [if always()]"},
	} {
		if !slices.Equal(runs[job], want) {
			t.Errorf("job %s runs %q, want %q", job, runs[job], want)
		}
	}
	logs := false
	for _, s := range w.Jobs["compose"].Steps {
		if s.If == "failure()" && strings.Contains(s.Run, "docker compose logs") {
			logs = true
		}
	}
	if !logs {
		t.Error("the compose job must dump `docker compose logs` when it fails")
	}
	builder := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+\.\d+)`).FindStringSubmatch(readRepoFile(t, "Dockerfile"))
	if builder == nil || w.Env["GO_VERSION"] != builder[1] {
		t.Errorf("the workflow's GO_VERSION %q is not the Dockerfile's Go release %v", w.Env["GO_VERSION"], builder)
	}
}
