package window

import (
	"testing"

	"github.com/streamlab/streamlab/internal/event"
)

// TestCoalescingRanges: changes to fired windows wait for the end of their
// range of offsets, [k·N, (k+1)·N), which is the first record at or past
// (k+1)·N — whatever it carries and however far the offsets jump.
func TestCoalescingRanges(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplayRetentionMs = 0
	cfg.CoalesceOffsets = 10
	e, _ := New(cfg, 0)
	var c collector
	at := func(offset int64, x *event.Event) Outcome {
		return e.Apply(x, Source{Offset: offset, TimestampMs: x.TimeMs}, c.emit)
	}
	step := func(name, want string) {
		t.Helper()
		if got := c.take(); got != want {
			t.Fatalf("%s: emitted %q, want %q", name, got, want)
		}
	}
	at(0, ev(1, 10, event.PageView))
	at(1, ev(2, 70, event.PageView)) // W = 12:01:05: [12:00] fires at once
	step("first emission", "12:00 r1 e1 late0 dup0")
	at(2, ev(3, 20, event.PageView)) // allowed late
	at(3, ev(1, 10, event.PageView)) // duplicate in a fired window
	at(9, ev(4, 30, event.PageView)) // allowed late, last offset of [0, 10)
	step("inside the range", "")
	// Offsets jump from 9 to 37 (compaction, transaction markers): 37 is the
	// first record past 10, so it ends [0, 10); it starts [30, 40).
	at(37, ev(5, 40, event.PageView))
	step("first record past the range", "12:00 r2 e3 late2 dup1")
	// A record that never reaches the engine (a dead letter) still counts.
	e.Skip(40, c.emit)
	step("a skipped record ends the range", "12:00 r3 e4 late3 dup1")
	e.Skip(41, c.emit)
	step("nothing changed", "")

	// A window past its horizon with an unpublished change is kept until
	// the range publishes it, then forgotten.
	at(42, ev(6, 50, event.PageView))  // [12:00] changed again
	at(43, ev(7, 185, event.PageView)) // W = 12:03:00 = 12:00 + 1 + 2 min: [12:01] fires, [12:00] past its horizon
	step("fire", "12:01 r1 e1 late0 dup0")
	if at(44, ev(8, 55, event.PageView)) != Late {
		t.Fatal("[12:00] is past its lateness")
	}
	if e.OpenWindows() != 3 {
		t.Fatalf("%d windows held, want [12:00] (unpublished change), [12:01], [12:03]", e.OpenWindows())
	}
	at(45, ev(9, 190, event.PageView)) // pending [12:03]
	// Flush: first the changed fired windows, then the open ones, oldest first.
	if n := e.Flush(c.emit); n != 2 {
		t.Fatalf("flush published %d windows", n)
	}
	step("flush", "12:00 r4 e5 late4 dup1; 12:03 r1 e2 late0 dup0")
	if e.OpenWindows() != 2 {
		t.Fatalf("%d windows held after the flush published [12:00]", e.OpenWindows())
	}
	if n := e.Flush(c.emit); n != 0 || c.take() != "" {
		t.Fatal("a second flush published again")
	}
}

func TestConfigDefaults(t *testing.T) {
	zero := DefaultConfig()
	zero.CoalesceOffsets = 0
	e, err := New(zero, 0)
	if err != nil || e.Config() != DefaultConfig() {
		t.Fatalf("a zero CoalesceOffsets should mean %d: %+v, %v", DefaultCoalesceOffsets, e.Config(), err)
	}
	snap, _ := e.Snapshot()
	if _, err := Restore(zero, 0, snap); err != nil {
		t.Fatalf("restore with the zero value of the default: %v", err)
	}
	other := DefaultConfig()
	other.CoalesceOffsets = 10
	if _, err := Restore(other, 0, snap); err == nil {
		t.Fatal("restored a snapshot taken with other coalescing ranges")
	}
	bad := Config{SizeMs: 1, CoalesceOffsets: -1}
	if err := bad.Validate(); err == nil {
		t.Fatal("negative CoalesceOffsets accepted")
	}
}
