package deploy_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/streamlab/streamlab/cli"
)

func TestDockerfile(t *testing.T) {
	src := readRepoFile(t, "Dockerfile")
	var froms []string
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(src, -1) {
		froms = append(froms, m[1])
		// Distroless publishes no release tags, only moving ones such as
		// nonroot, and digests; a digest cannot be looked up without a
		// registry, so its documented nonroot tag is accepted.
		if strings.HasPrefix(m[1], "gcr.io/distroless/") && strings.HasSuffix(m[1], ":nonroot") {
			continue
		}
		if err := pinned(m[1]); err != nil {
			t.Error(err)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a build stage and a runtime stage, got FROM %v", froms)
	}

	// The builder must be able to build the module: its Go is at least the
	// go line of go.mod.
	goMod := regexp.MustCompile(`(?m)^go\s+(\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	builder := regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(froms[0])
	if goMod == nil || builder == nil {
		t.Fatalf("cannot compare the builder %q with go.mod's go line", froms[0])
	}
	if version(builder[1:]) < version(goMod[1:]) {
		t.Errorf("builder %s is older than go.mod's go %s.%s.%s", froms[0], goMod[1], goMod[2], goMod[3])
	}

	// The same static, reproducible build as `make build`, with the version
	// stamped into the variable the version command prints.
	_ = cli.Version // the -X target below must stay a real variable
	mk := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.+)$`).FindStringSubmatch(readRepoFile(t, "Makefile"))
	if mk == nil {
		t.Fatal("the Makefile has no LDFLAGS")
	}
	wantLD := strings.ReplaceAll(strings.TrimSpace(mk[1]), "$(VERSION)", "${VERSION}")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", wantLD, "github.com/streamlab/streamlab/cli.Version="} {
		if !strings.Contains(src, want) {
			t.Errorf("the Dockerfile's build does not use %q (as `make build` does)", want)
		}
	}

	final := src[strings.LastIndex(src, "\nFROM "):]
	if !strings.Contains(froms[len(froms)-1], ":nonroot") && !regexp.MustCompile(`(?m)^USER\s+\S+`).MatchString(final) {
		t.Error("the runtime stage runs as root: use a nonroot image or a USER line")
	}
	if !strings.Contains(final, `ENTRYPOINT ["/streamlab"]`) {
		t.Error(`the runtime stage must have ENTRYPOINT ["/streamlab"]: compose services pass only the role`)
	}
}

func version(parts []string) int {
	v := 0
	for _, p := range parts {
		n, _ := strconv.Atoi(p) // a missing patch is 0
		v = v*1000 + n
	}
	return v
}
