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

func entries() []Entry {
	mk := func(p int32, off int64, reason event.Reason, at time.Duration, replays int, replayed bool, val string) Entry {
		l := deadletter.Letter{Reason: reason, Error: "error for " + string(reason), Topic: "events.raw.v1", Partition: p, Offset: off,
			FailedAt: t0.Add(at), ReplayCount: replays, Key: []byte("u1"), Value: []byte(val)}
		if reason == event.LateEvent {
			l.EventTimeMs, l.HasEventTime = t0.Add(-time.Hour).UnixMilli(), true
		}
		return Entry{Letter: l, DLQPartition: int(p), DLQOffset: off * 10, Replayed: replayed}
	}
	return []Entry{
		mk(0, 1, event.InvalidJSON, 0, 0, false, "not json\n\x1b[31m"),
		mk(1, 2, event.LateEvent, 10*time.Minute, 0, true, `{"schema_version":1}`),
		mk(2, 3, event.LateEvent, 70*time.Minute, 1, false, `{"schema_version":1,"event_id":"x"}`),
		mk(0, 4, event.Oversized, 2*time.Hour, 3, false, "\xff\xfe binary"),
		mk(1, 5, event.FutureEvent, 3*time.Hour, 0, false, ""),
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
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "12345"},
		{"reason", Filter{Reasons: []string{"late_event"}}, "23"},
		{"two reasons", Filter{Reasons: []string{"late_event", "oversized"}}, "234"},
		{"since inclusive", Filter{Since: t0.Add(10 * time.Minute)}, "2345"},
		{"until exclusive", Filter{Until: t0.Add(70 * time.Minute)}, "12"},
		{"window", Filter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Hour)}, "234"},
		{"partition", Filter{Partitions: []int32{0}}, "14"},
		{"limit keeps the oldest", Filter{Limit: 2}, "12"},
		{"limit after filter", Filter{Reasons: []string{"late_event"}, Limit: 1}, "2"},
		{"nothing", Filter{Reasons: []string{"schema_violation"}}, ""},
	}
	for _, tc := range tests {
		if got := offsets(tc.f.Apply(entries())); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFilterValidate(t *testing.T) {
	for _, f := range []Filter{{Reasons: []string{"late"}}, {Since: t0, Until: t0}, {Limit: -1}} {
		if err := f.Validate(); err == nil {
			t.Errorf("%+v: accepted", f)
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
	todo, sum := Plan(entries(), 3, false)
	if offsets(todo) != "135" || sum.SkippedReplayed != 1 || sum.SkippedMaxReplays != 1 || sum.Selected != 5 {
		t.Fatalf("todo %s sum %+v", offsets(todo), sum)
	}
	todo, sum = Plan(entries(), 1, true)
	if offsets(todo) != "125" || sum.SkippedMaxReplays != 2 || sum.SkippedReplayed != 0 {
		t.Fatalf("force/max 1: todo %s sum %+v", offsets(todo), sum)
	}
}

func TestReplayMessage(t *testing.T) {
	e := entries()[2]
	m := ReplayMessage(&e, "events.dlq.v1")
	if string(m.Key) != "u1" || string(m.Value) != string(e.Value) {
		t.Fatal("replay changes key or value")
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	if h[deadletter.HeaderReplayCount] != "2" || h[HeaderReplayOf] != "events.dlq.v1/2/30" || h[deadletter.HeaderSourceOffset] != "3" {
		t.Fatalf("headers %v", h)
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

func TestGoldenOutputs(t *testing.T) {
	var table, js, stats bytes.Buffer
	if err := RenderTable(&table, entries()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table.String(), "\x1b") {
		t.Fatal("control characters reach the terminal")
	}
	golden(t, "ls.txt", table.Bytes())
	if err := RenderJSON(&js, entries()); err != nil {
		t.Fatal(err)
	}
	golden(t, "ls.jsonl", js.Bytes())
	if err := Summarise(entries()).Render(&stats); err != nil {
		t.Fatal(err)
	}
	golden(t, "stats.txt", stats.Bytes())
}
