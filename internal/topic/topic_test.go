package topic

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	specs := Specs(Defaults(), 3, time.Hour)
	byName := map[string]Spec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	n := Defaults()
	cases := []struct {
		topic      string
		partitions int
		configs    map[string]string
		want       string // differences, "; "-joined; "" = none
		breaks     bool
	}{
		{n.Raw, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}, "", false},
		{n.Raw, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000"}, "retention.ms=604800000 (want 3600000)", false},
		{n.Raw, 3, map[string]string{"cleanup.policy": "compact", "retention.ms": "3600000"}, "cleanup.policy=compact (want delete)", true},
		{n.Raw, 6, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}, "partitions=6 (want 3)", true},
		{n.Agg, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}, "", false},
		// A compacted aggregate topic works, but a rebuild from it may not be exact (Specs).
		{n.Agg, 3, map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "3600000"}, "cleanup.policy=compact,delete (want delete)", false},
		{n.DLQ, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000", "max.message.bytes": "8388608"}, "", false},
		{n.DLQ, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000", "max.message.bytes": "1048588"}, "max.message.bytes=1048588 (want at least 4194304)", true},
		{n.State, 3, map[string]string{"cleanup.policy": "delete", "max.message.bytes": "67108864", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}, "cleanup.policy=delete (want compact)", true},
		{n.State, 3, map[string]string{"cleanup.policy": "compact", "max.message.bytes": "67108864", "min.cleanable.dirty.ratio": "0.5", "segment.ms": "600000"}, "min.cleanable.dirty.ratio=0.5 (want 0.1)", false},
	}
	for _, c := range cases {
		ds := byName[c.topic].Compare(c.partitions, c.configs)
		var got []string
		breaks := false
		for _, d := range ds {
			got = append(got, strings.SplitN(d.String(), ":", 2)[0])
			breaks = breaks || d.Breaks
			if d.Breaks && d.Why == "" {
				t.Errorf("%s: %s breaks the pipeline without saying why", c.topic, d)
			}
		}
		if strings.Join(got, "; ") != c.want || breaks != c.breaks {
			t.Errorf("%s %v: got %q breaks=%v, want %q breaks=%v", c.topic, c.configs, got, breaks, c.want, c.breaks)
		}
	}
}

func TestDLQMessageBytes(t *testing.T) {
	if got := DLQMessageBytes(1048588); got != MaxDLQMessageBytes {
		t.Errorf("default raw limit: %d", got)
	}
	if got := DLQMessageBytes(6 << 20); got != 6<<20+DLQHeadroomBytes {
		t.Errorf("raised raw limit: %d", got)
	}
}

func TestCleanupPolicyIsASet(t *testing.T) {
	if !SameSetting(CleanupPolicy, "delete,compact", "compact,delete") || SameSetting(CleanupPolicy, "compact", "compact,delete") {
		t.Error("cleanup.policy must compare as a set")
	}
}

// TestAggregateTopicIsNotCompacted: compaction keeps the last offset of a
// key, and the aggregate topic's key (window/partition) has many revisions;
// after a re-production the last offset can be an old revision, so a
// compacted topic could lose the newest one (see Specs).
func TestAggregateTopicIsNotCompacted(t *testing.T) {
	for _, s := range Specs(Defaults(), 3, time.Hour) {
		if s.Name != Defaults().Agg {
			continue
		}
		if p := s.Configs[CleanupPolicy]; p != "delete" {
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
	// | topic | key | value | written by | read by | retention |
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (.*) \\| (.*) \\| (.*) \\| (.*) \\| ([^|]+) \\|$")
	documented := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = m[2:]
	}
	specs := map[string]Spec{}
	for _, s := range Specs(Defaults(), 3, time.Hour) {
		specs[s.Name] = s
	}
	edges := Edges(Defaults())
	if len(edges) != len(specs) || len(documented) != len(edges) {
		t.Errorf("%d edges, %d specs, %d documented topics: every topic needs all three", len(edges), len(specs), len(documented))
	}
	for _, e := range edges {
		doc, ok := documented[e.Topic]
		if !ok {
			t.Errorf("docs/architecture.md's topic table has no row for %s", e.Topic)
			continue
		}
		want := []string{e.Key, e.Codec, e.Writers, e.Readers}
		for i, col := range []string{"key", "value", "written by", "read by"} {
			if got := strings.TrimSpace(doc[i]); got != want[i] {
				t.Errorf("docs/architecture.md, %s, %s: %q; topic.Edges says %q", e.Topic, col, got, want[i])
			}
		}
		s, ok := specs[e.Topic]
		if !ok {
			t.Errorf("%s has no Spec: topics create would not make it", e.Topic)
			continue
		}
		policy := s.Configs[CleanupPolicy]
		if policy == "" {
			policy = "delete" // the broker's default
		}
		retention := strings.TrimSpace(doc[4])
		compacted := strings.Contains(policy, "compact")
		deleted := strings.Contains(policy, "delete")
		if strings.Contains(retention, "compact") != compacted || strings.Contains(retention, "delete") != deleted {
			t.Errorf("docs/architecture.md says %s is %q, but Specs creates it with cleanup.policy=%s", s.Name, retention, policy)
		}
	}
}
