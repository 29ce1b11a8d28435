package dlq

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

const raw = "events.raw.v1"

func mk(p int32, off int64, reason event.Reason, at time.Duration, replays int, replayed bool, val []byte) Entry {
	l := deadletter.Letter{Reason: reason, Error: "error for " + string(reason), Topic: raw, Partition: p, Offset: off,
		FailedAt: t0.Add(at), ReplayCount: replays, Key: []byte("u1"), Value: val}
	if reason == event.LateEvent {
		l.EventTimeMs, l.HasEventTime = t0.Add(-time.Hour).UnixMilli(), true
	}
	return Entry{Letter: l, DLQPartition: int(p), DLQOffset: off * 10, Replayed: replayed}
}

// entries are five dead letters, oldest failure first, one of each shape
// ls must show: control characters, a replayed one, binary, empty.
func entries() []Entry {
	return []Entry{
		mk(0, 1, event.InvalidJSON, 0, 0, false, []byte("not json\n\x1b[31m")),
		mk(1, 2, event.LateEvent, 10*time.Minute, 0, true, []byte(`{"schema_version":1}`)),
		mk(2, 3, event.LateEvent, 70*time.Minute, 1, false, []byte(`{"schema_version":1,"event_id":"x"}`)),
		mk(0, 4, event.Oversized, 2*time.Hour, 3, false, []byte("\xff\xfe binary")),
		mk(1, 5, event.FutureEvent, 3*time.Hour, 0, false, []byte{}),
	}
}

func offsets(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, string(rune('0'+e.Offset)))
	}
	return strings.Join(s, "")
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name    string
		f       Filter
		want    string
		matched int
	}{
		{"all", Filter{}, "12345", 5},
		{"reason", Filter{Reasons: []string{"late_event"}}, "23", 2},
		{"two reasons", Filter{Reasons: []string{"late_event", "oversized"}}, "234", 3},
		{"since inclusive", Filter{Since: t0.Add(10 * time.Minute)}, "2345", 4},
		{"until exclusive", Filter{Until: t0.Add(70 * time.Minute)}, "12", 2},
		{"window", Filter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Hour)}, "234", 3},
		{"partition", Filter{Partitions: []int32{0}}, "14", 2},
		{"limit keeps the oldest", Filter{Limit: 2}, "12", 5},
		{"newest keeps the newest, in order", Filter{Limit: 2, Newest: true}, "45", 5},
		{"limit after filter", Filter{Reasons: []string{"late_event"}, Limit: 1}, "2", 2},
		{"nothing", Filter{Reasons: []string{"schema_violation"}}, "", 0},
	}
	for _, tc := range tests {
		got, matched := tc.f.Apply(entries())
		if offsets(got) != tc.want || matched != tc.matched {
			t.Errorf("%s: got %q of %d, want %q of %d", tc.name, offsets(got), matched, tc.want, tc.matched)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	for _, f := range []Filter{{Reasons: []string{"late"}}, {Since: t0, Until: t0}, {Limit: -1}} {
		err := f.Validate()
		if err == nil {
			t.Errorf("%+v: accepted", f)
		} else if strings.Contains(err.Error(), "--") {
			t.Errorf("%+v: a service error names a flag: %v", f, err)
		}
	}
	if err := (&Filter{Reasons: []string{"late_event"}, Since: t0, Until: t0.Add(time.Second)}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseTime(t *testing.T) {
	now := t0
	for in, want := range map[string]time.Time{"": {}, "2026-01-01T09:00:00Z": t0.Add(-time.Hour), "90m": t0.Add(-90 * time.Minute), "2026-01-01T11:00:00+01:00": t0} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5m", "2026-01-01"} {
		if _, err := ParseTime(in, now); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if p, err := ParsePartitions("0, 2"); err != nil || len(p) != 2 || p[1] != 2 {
		t.Errorf("ParsePartitions: %v %v", p, err)
	}
	if _, err := ParsePartitions("a"); err == nil {
		t.Error("ParsePartitions accepted a")
	}
}

func TestPlan(t *testing.T) {
	p := MakePlan(entries(), "dlq", 3, false)
	if offsets(p.Todo) != "135" || p.Skipped[SkipReplayed] != 1 || p.Skipped[SkipMaxReplays] != 1 || p.Selected != 5 || p.SkippedTotal() != 2 {
		t.Fatalf("todo %s plan %+v", offsets(p.Todo), p)
	}
	p = MakePlan(entries(), "dlq", 1, true)
	if offsets(p.Todo) != "125" || p.Skipped[SkipMaxReplays] != 2 || p.Skipped[SkipReplayed] != 0 {
		t.Fatalf("force/max 1: todo %s plan %+v", offsets(p.Todo), p)
	}
}

// TestPlanDeduplicatesBySource: a processor that crashed between writing
// dead letters and its checkpoint writes them again; one run replays each
// source record once, a ledger mark on any copy counts for all, and the
// ledger marks every copy of what it replays.
func TestPlanDeduplicatesBySource(t *testing.T) {
	es := entries()
	copyOf1 := es[0]
	copyOf1.DLQPartition, copyOf1.DLQOffset = 2, 99
	copyOf2 := es[1] // es[1] is marked replayed; its copy is not
	copyOf2.DLQOffset, copyOf2.Replayed = 77, false
	es = append(es, copyOf1, copyOf2)
	p := MakePlan(es, "dlq", 3, false)
	if offsets(p.Todo) != "135" || p.Skipped[SkipCopy] != 2 || p.Skipped[SkipReplayed] != 1 {
		t.Fatalf("todo %s skipped %v", offsets(p.Todo), p.Skipped)
	}
	if got := p.Copies["dlq/0/10"]; len(got) != 1 || got[0] != "dlq/2/99" {
		t.Fatalf("copies of the first letter: %v", got)
	}
	// The copy of a replayed letter listed first: still one replay, and
	// still "already replayed" through the copy's ledger mark.
	es[0], es[5] = es[5], es[0]
	p = MakePlan(es, "dlq", 3, false)
	if p.Written() != 3 || p.Skipped[SkipCopy] != 2 {
		t.Fatalf("reordered: todo %s skipped %v", offsets(p.Todo), p.Skipped)
	}
}

func TestPlanRefusesTruncated(t *testing.T) {
	es := entries()
	es[0].Value = bytes.Repeat([]byte("y"), 1000)
	if cut, err := es[0].Truncate(700); err != nil || !cut {
		t.Fatal(cut, err)
	}
	p := MakePlan(es, "dlq", 3, false)
	if offsets(p.Todo) != "35" || p.Skipped[SkipTruncated] != 1 || len(p.Truncated) != 1 {
		t.Fatalf("todo %s skipped %v", offsets(p.Todo), p.Skipped)
	}
	var b bytes.Buffer
	if err := (&ReplayReport{RawTopic: raw, Matched: 5, Plan: p, Written: 2}).Render(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "not replayed: events.raw.v1/0@1: value cut from 1000 to ") || !strings.Contains(b.String(), "the original bytes are not in the DLQ") {
		t.Fatalf("the report does not say why:\n%s", b.String())
	}
}

func TestCheckSources(t *testing.T) {
	p := MakePlan(entries(), "dlq", 3, false) // partitions 0, 2, 1
	if err := p.CheckSources(raw, 3); err != nil {
		t.Fatal(err)
	}
	err := p.CheckSources(raw, 2)
	if err == nil || !strings.Contains(err.Error(), "1 come from partition 2, which events.raw.v1 no longer has (it has 2)") {
		t.Fatalf("fewer partitions: %v", err)
	}
	err = p.CheckSources("events.raw.v2", 3)
	if err == nil || !strings.Contains(err.Error(), "3 come from topic events.raw.v1, not from events.raw.v2") {
		t.Fatalf("other topic: %v", err)
	}
	if strings.Contains(err.Error(), "--") {
		t.Fatalf("a service error names a flag: %v", err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from golden:\n%s\nwant:\n%s", name, got, want)
	}
}

// lsEntries adds what only ls shows: a null value, the raw record's own
// headers, a truncated value and an error longer than a screen.
func lsEntries(t *testing.T) []Entry {
	es := entries()
	nul := mk(2, 6, event.InvalidJSON, 4*time.Hour, 0, false, nil)
	nul.Key = nil
	nul.RawHeaders = []deadletter.Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: []byte{}}, {Key: "null"}}
	big := mk(0, 7, event.Oversized, 5*time.Hour, 0, false, bytes.Repeat([]byte("x"), 1000))
	if cut, err := big.Truncate(700); err != nil || !cut {
		t.Fatal(cut, err)
	}
	es[1].Error = "event_time 2026-01-01T09:00:00.000Z belongs to the window ending 2026-01-01T09:01:00.000Z, closed to new events: watermark 2026-01-01T10:09:55.000Z is past the window end plus the allowed lateness of 2m0s"
	return append(es, nul, big)
}

func TestGoldenOutputs(t *testing.T) {
	var table, js, stats, limited bytes.Buffer
	l := Listing{Entries: lsEntries(t), Matched: 7}
	if err := l.RenderTable(&table); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table.String(), "\x1b") {
		t.Fatal("control characters reach the terminal")
	}
	golden(t, "ls.txt", table.Bytes())
	if err := l.RenderJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "ls.jsonl", js.Bytes())
	if err := Summarise(l.Entries).Render(&stats); err != nil {
		t.Fatal(err)
	}
	golden(t, "stats.txt", stats.Bytes())
	kept, matched := (&Filter{Limit: 2, Newest: true}).Apply(l.Entries)
	if err := (Listing{Entries: kept, Matched: matched, Newest: true}).RenderTable(&limited); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(limited.String(), "\nthe newest 2 of 7 matching dead letters\n") {
		t.Fatalf("limited listing:\n%s", limited.String())
	}
}
