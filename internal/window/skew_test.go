package window

import (
	"testing"

	"github.com/streamlab/streamlab/internal/event"
)

// TestSkewCap is the table of the skew rule: a counted event moves the
// watermark to min(event_time, record timestamp) − out-of-orderness, never
// back, and never for a dead letter or a duplicate. Times are seconds after
// 12:00:00; out-of-orderness is 5 s, lateness 2 min.
func TestSkewCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CoalesceOffsets = 1 // an upsert is published at the next record
	e, _ := New(cfg, 0)
	var c collector
	for i, s := range []struct {
		name          string
		id            byte
		event, record int64 // event_time and record timestamp
		outcome       Outcome
		wantW         int64 // watermark after the event
		emitted       string
	}{
		{"on time: the event time moves W", 1, 10, 10, Counted, 5, ""},
		{"9 min ahead of its record: W moves only to the record", 2, 550, 11, Counted, 6, ""},
		{"on time after the skewed one: not late", 3, 12, 12, Counted, 7, ""},
		{"written late: the event time moves W", 4, 20, 600, Counted, 15, ""},
		{"a record timestamp going back never lowers W", 5, 30, 1, Counted, 15, ""},
		{"a duplicate of the skewed event moves nothing", 2, 550, 400, Duplicate, 15, ""},
		{"on time at 12:01:06: [12:00] fires, the skewed [12:09] waits", 6, 66, 66, Counted, 61, "12:00 r1 e4 late0 dup0"},
		{"allowed late: an upsert, and W stays", 7, 59, 67, Counted, 61, ""},
		{"the clock reaches the skewed event: [12:09] fires", 8, 606, 606, Counted, 601, "12:00 r2 e5 late1 dup0; 12:01 r1 e1 late0 dup0; 12:09 r1 e1 late0 dup1"},
		{"W passed 12:01 + 2 min: late, and W stays", 9, 59, 700, Late, 601, ""},
	} {
		x := ev(s.id, s.event, event.PageView)
		got := e.Apply(x, Source{Offset: int64(i), TimestampMs: noon + s.record*1000}, c.emit)
		if got != s.outcome {
			t.Fatalf("row %d (%s): outcome %v, want %v", i, s.name, got, s.outcome)
		}
		if w, ok := e.Watermark(); !ok || w != noon+s.wantW*1000 {
			t.Fatalf("row %d (%s): W = %s, want %s", i, s.name, event.FormatMillis(w), event.FormatMillis(noon+s.wantW*1000))
		}
		if got := c.take(); got != s.emitted {
			t.Fatalf("row %d (%s): emitted %q, want %q", i, s.name, got, s.emitted)
		}
	}
}
