package topic

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAggregateTopicIsNotCompacted: compaction keeps the last offset of a
// key, and the aggregate topic's key (window/partition) has many revisions;
// after a re-production the last offset can be an old revision, so a
// compacted topic could lose the newest one (see Specs).
func TestAggregateTopicIsNotCompacted(t *testing.T) {
	for _, s := range Specs(Defaults(), 3, time.Hour) {
		if s.Name != Defaults().Agg {
			continue
		}
		if p := s.Configs["cleanup.policy"]; p != "delete" {
			t.Fatalf("%s: cleanup.policy %q, want delete: compaction keeps the last offset per key, not the highest revision", s.Name, p)
		}
		return
	}
	t.Fatal("Specs has no aggregate topic")
}

// TestArchitectureTopicTable: the cleanup policy docs/architecture.md
// states for each topic is the one Specs creates it with.
func TestArchitectureTopicTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|.*\\| ([^|]+) \\|$")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	for _, s := range Specs(Defaults(), 3, time.Hour) {
		doc, ok := documented[s.Name]
		if !ok {
			t.Errorf("docs/architecture.md's topic table has no row for %s", s.Name)
			continue
		}
		policy := s.Configs["cleanup.policy"]
		if policy == "" {
			policy = "delete" // the broker's default
		}
		compacted := strings.Contains(policy, "compact")
		deleted := strings.Contains(policy, "delete")
		if strings.Contains(doc, "compact") != compacted || strings.Contains(doc, "delete") != deleted {
			t.Errorf("docs/architecture.md says %s is %q, but Specs creates it with cleanup.policy=%s", s.Name, doc, policy)
		}
	}
}
