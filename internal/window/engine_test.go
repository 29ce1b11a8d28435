package window

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

const noon = int64(1_767_268_800_000) // 2026-01-01T12:00:00Z

// written and replayed are records whose timestamp is far after every event
// here, so the skew cap never bites (TestSkewCap tests it).
var (
	written  = Source{TimestampMs: math.MaxInt64}
	replayed = Source{TimestampMs: math.MaxInt64, Replay: true}
)

// log feeds an engine records at consecutive offsets, as a partition's log.
type log struct {
	e    *Engine
	next int64
	c    collector
}

func (l *log) apply(x *event.Event, src Source) Outcome {
	src.Offset = l.next
	l.next++
	return l.e.Apply(x, src, l.c.emit)
}

func ev(id byte, secs int64, typ event.Type) *event.Event {
	e := &event.Event{Type: typ, TimeMs: noon + secs*1000, UserID: []byte(fmt.Sprintf("u%d", id%3)), SessionID: []byte(fmt.Sprintf("s%d", id%4))}
	e.ID[15] = id
	switch typ {
	case event.ProductView, event.AddToCart:
		e.ProductID = []byte("p1")
	case event.OrderPlaced, event.PaymentFailed, event.OrderRefunded:
		e.OrderID, e.AmountMinor, e.Currency = []byte("o"), 8796093022217, [3]byte{'E', 'U', 'R'}
	}
	return e
}

type collector struct{ recs []*aggregate.Record }

func (c *collector) emit(v *aggregate.View) { c.recs = append(c.recs, v.Record()) }

func (c *collector) take() string {
	var s []string
	for _, r := range c.recs {
		s = append(s, fmt.Sprintf("%s r%d e%d late%d dup%d", r.WindowStart[11:16], r.Revision, r.Events, r.LateAccepted, r.Duplicates))
	}
	c.recs = nil
	return strings.Join(s, "; ")
}

func TestRecordContents(t *testing.T) {
	e, _ := New(DefaultConfig(), 7)
	var c collector
	for i, typ := range []event.Type{event.PageView, event.ProductView, event.ProductView, event.AddToCart, event.CheckoutStarted, event.OrderPlaced, event.OrderPlaced, event.PaymentFailed, event.OrderRefunded} {
		e.Apply(ev(byte(i), int64(i), typ), written, c.emit)
	}
	e.Flush(c.emit)
	if len(c.recs) != 1 {
		t.Fatalf("%d records", len(c.recs))
	}
	r := c.recs[0]
	b, _ := r.Marshal()
	want := `{"schema_version":1,"window_start":"2026-01-01T12:00:00.000Z","window_end":"2026-01-01T12:01:00.000Z","source_partition":7,"revision":1,"events":9,` +
		`"events_by_type":{"add_to_cart":1,"checkout_started":1,"order_placed":2,"order_refunded":1,"page_view":1,"payment_failed":1,"product_view":2},` +
		`"users":3,"sessions":4,"orders":2,"revenue_minor":{"EUR":17592186044434},"refunds":1,"refunded_minor":{"EUR":8796093022217},"payment_failures":1,` +
		`"funnel":{"add_to_cart":1,"checkout_started":1,"order_placed":2,"product_view":2},"product_views":{"p1":2},"late_accepted":0,"duplicates":0}`
	if string(b) != want {
		t.Fatalf("record\n got %s\nwant %s", b, want)
	}
}

func TestWindowStartFloorBefore1970(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct{ t, want int64 }{{0, 0}, {-1, -60000}, {-60000, -60000}, {-60001, -120000}, {59999, 0}, {60000, 60000}} {
		if got := c.WindowStart(tc.t); got != tc.want {
			t.Errorf("WindowStart(%d) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{SizeMs: 0, OutOfOrdernessMs: -1, AllowedLatenessMs: -1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "window size") || !strings.Contains(err.Error(), "lateness") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestRestoreRejectsOtherSettings(t *testing.T) {
	e, _ := New(DefaultConfig(), 0)
	e.Apply(ev(1, 1, event.PageView), written, func(*aggregate.View) {})
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := DefaultConfig()
	other.SizeMs = 30_000
	if _, err := Restore(other, 0, snap); err == nil {
		t.Fatal("restored a snapshot with another window size")
	}
	if _, err := Restore(DefaultConfig(), 1, snap); err == nil {
		t.Fatal("restored a snapshot of another partition")
	}
}

// TestReplayUpsertsRetainedWindow: a dead letter replayed within the replay
// retention upserts its window once (at the end of its coalescing range);
// replaying it again changes nothing; beyond the retention it is late again.
func TestReplayUpsertsRetainedWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplayRetentionMs = 10 * 60_000
	cfg.CoalesceOffsets = 1 // every record ends the range of the one before
	e, _ := New(cfg, 0)
	l := &log{e: e}
	l.apply(ev(1, 10, event.PageView), written)
	l.apply(ev(2, 400, event.PageView), written) // W = 12:06:35: [12:00] is past its lateness
	l.c.take()
	late := ev(3, 20, event.OrderPlaced)
	if got := l.apply(late, written); got != Late {
		t.Fatalf("ordinary late event: %v", got)
	}
	if got := l.apply(late, replayed); got != Counted || l.c.take() != "" {
		t.Fatalf("replayed late event: %v, or emitted before the end of its range", got)
	}
	if got := l.apply(late, replayed); got != Duplicate {
		t.Fatalf("second replay: %v", got)
	}
	if got := l.c.take(); got != "12:00 r2 e2 late1 dup0" {
		t.Fatalf("the range of the replay emitted %q", got)
	}
	if e.Skip(l.next, l.c.emit); l.c.take() != "" {
		t.Fatal("a replayed duplicate changed the window")
	}
	l.apply(ev(4, 60*14, event.PageView), written) // W = 12:13:55 ≥ 12:01 + 2 + 10 min
	l.c.take()
	if got := l.apply(ev(5, 30, event.PageView), replayed); got != Late {
		t.Fatalf("replay beyond the retention: %v", got)
	}
}

// TestFlushIsNotTheWatermark: a shutdown flush publishes open windows but
// leaves them open, so events after a restart are not late_accepted, and a
// second flush without news publishes nothing.
func TestFlushIsNotTheWatermark(t *testing.T) {
	e, _ := New(DefaultConfig(), 0)
	var c collector
	e.Apply(ev(1, 10, event.PageView), written, c.emit)
	e.Flush(c.emit)
	if got := c.take(); got != "12:00 r1 e1 late0 dup0" {
		t.Fatalf("flush emitted %q", got)
	}
	e.Flush(c.emit)
	if got := c.take(); got != "" {
		t.Fatalf("second flush emitted %q", got)
	}
	snap, _ := e.Snapshot()
	e, _ = Restore(DefaultConfig(), 0, snap)
	e.Apply(ev(2, 20, event.PageView), written, c.emit) // the window is still open: not late
	e.Apply(ev(1, 10, event.PageView), written, c.emit) // a duplicate in an open window: no emission
	if got := c.take(); got != "" {
		t.Fatalf("events into a flushed open window emitted %q", got)
	}
	e.Apply(ev(3, 70, event.PageView), written, c.emit) // W = 12:01:05: fires with everything
	if got := c.take(); got != "12:00 r2 e2 late0 dup1" {
		t.Fatalf("fire after restart emitted %q", got)
	}
	// A flushed window the watermark passes without news is not emitted again.
	e.Flush(c.emit)
	c.take()
	e.Apply(ev(4, 200, event.PageView), written, c.emit)
	if got := c.take(); got != "" {
		t.Fatalf("unchanged flushed window emitted again: %q", got)
	}
}

func TestRevenueNeverWraps(t *testing.T) {
	e, _ := New(DefaultConfig(), 0)
	var c collector
	for i := byte(1); i <= 3; i++ {
		x := ev(i, int64(i), event.OrderPlaced)
		x.AmountMinor = 1<<62 + 1
		e.Apply(x, written, c.emit)
	}
	e.Flush(c.emit)
	if got := c.recs[0].RevenueMinor["EUR"]; got != 1<<63-1 {
		t.Fatalf("revenue %d, want the int64 maximum", got)
	}
}

// TestDuplicatesCountOnce: with the duplicate check and the recording of an
// id done by one map operation, an id is counted once per window, a repeat
// only bumps the duplicates counter, the same id in the next window (whose
// maps are presized from this one) is new there, and a replayed repeat
// changes nothing. TestReplayUpsertsRetainedWindow covers a late event,
// whose id must not be recorded.
func TestDuplicatesCountOnce(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CoalesceOffsets = 1
	e, _ := New(cfg, 0)
	l := &log{e: e}
	want := []Outcome{Counted, Counted, Duplicate, Duplicate, Counted, Duplicate}
	for i, x := range []struct {
		ev  *event.Event
		src Source
	}{
		{ev(1, 10, event.PageView), written},
		{ev(2, 11, event.PageView), written},
		{ev(1, 12, event.AddToCart), written},
		{ev(2, 13, event.PageView), replayed},
		{ev(1, 70, event.PageView), written},
		{ev(1, 71, event.PageView), written},
	} {
		if got := l.apply(x.ev, x.src); got != want[i] {
			t.Fatalf("event %d: %v, want %v", i, got, want[i])
		}
	}
	e.Flush(l.c.emit)
	if got := l.c.take(); got != "12:00 r1 e2 late0 dup1; 12:01 r1 e1 late0 dup1" {
		t.Fatalf("records %q", got)
	}
}
