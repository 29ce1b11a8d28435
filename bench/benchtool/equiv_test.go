package main

import (
	"io"
	"testing"
)

func sampleOutput(name string) *output {
	o := &output{name: name, finals: map[string]*record{}, partitions: map[string]int{}, byReason: map[string]int{}, bySource: map[string]string{}}
	for i, r := range []*record{
		{WindowStart: "2026-01-01T00:00:00.000Z", SourcePartition: 0, Revision: 3, Events: 10, Duplicates: 1, RevenueMinor: map[string]int64{"EUR": 5}},
		{WindowStart: "2026-01-01T00:00:00.000Z", SourcePartition: 1, Revision: 1, Events: 7},
	} {
		o.finals[r.Key()] = r
		o.partitions[r.Key()] = i
	}
	o.emissions = 5
	o.bySource["0@4"], o.bySource["1@9"] = "late_event", "invalid_json"
	o.byReason["late_event"], o.byReason["invalid_json"] = 1, 1
	return o
}

func TestReportCountsEveryDifference(t *testing.T) {
	const produced = 10 + 1 + 7 + 2
	if n := report(io.Discard, sampleOutput("a"), sampleOutput("b"), produced); n != 0 {
		t.Fatalf("identical outputs: %d differences, want 0", n)
	}
	for _, c := range []struct {
		name   string
		change func(*output)
		want   int
	}{
		{"one more coalesced upsert", func(o *output) { o.emissions++ }, 1},
		{"another revision", func(o *output) { o.finals["2026-01-01T00:00:00.000Z/1"].Revision = 2 }, 1},
		{"another output partition", func(o *output) { o.partitions["2026-01-01T00:00:00.000Z/1"] = 2 }, 1},
		{"a key in two output partitions", func(o *output) { o.partitions["2026-01-01T00:00:00.000Z/1"] = -1 }, 1},
		// Same counts by reason, other offsets: only the per-source comparison sees it.
		{"a dead letter at another offset", func(o *output) { delete(o.bySource, "1@9"); o.bySource["1@8"] = "invalid_json" }, 2},
		{"another reason", func(o *output) {
			o.bySource["1@9"] = "late_event"
			o.byReason["invalid_json"], o.byReason["late_event"] = 0, 2
		}, 3},
	} {
		b := sampleOutput("b")
		c.change(b)
		if n := report(io.Discard, sampleOutput("a"), b, produced); n != c.want {
			t.Errorf("%s: %d differences, want %d", c.name, n, c.want)
		}
	}
}
