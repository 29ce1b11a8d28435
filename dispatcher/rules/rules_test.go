package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rec builds the record of window i (minutes after t0) of one partition.
func rec(i int, part int32, rev int64, eur int64, mut ...func(*aggregate.Record)) *aggregate.Record {
	ws := t0.Add(time.Duration(i) * time.Minute)
	r := &aggregate.Record{
		SchemaVersion: 1, WindowStart: event.FormatMillis(ws.UnixMilli()),
		WindowEnd:       event.FormatMillis(ws.Add(time.Minute).UnixMilli()),
		SourcePartition: part, Revision: rev, Events: 1000, Orders: 40, PaymentFailures: 2,
		RevenueMinor: map[string]int64{},
	}
	if eur > 0 {
		r.RevenueMinor["EUR"] = eur
	}
	for _, m := range mut {
		m(r)
	}
	return r
}

// seenAt is when the processor emitted window i: its end plus the 5 s
// out-of-orderness.
func seenAt(i int) time.Time { return t0.Add(time.Duration(i+1)*time.Minute + 5*time.Second) }

func letter(reason event.Reason, at time.Time) *deadletter.Letter {
	return &deadletter.Letter{Reason: reason, Topic: "events.raw.v1", FailedAt: at}
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func find(rs []Result, key string) (Result, bool) {
	for _, r := range rs {
		if r.Key() == key {
			return r, true
		}
	}
	return Result{}, false
}

// history feeds n steady windows (0..n-1), two partitions each, EUR split
// evenly, with small deterministic noise so the MAD is not zero.
func history(t *testing.T, e *Engine, n int, eur int64) {
	t.Helper()
	for i := range n {
		noise := int64(i%3-1) * eur / 50
		must(t, e.ObserveAggregate(rec(i, 0, 1, eur/2+noise), seenAt(i)))
		must(t, e.ObserveAggregate(rec(i, 1, 1, eur/2), seenAt(i)))
	}
}

type want struct {
	key    string
	firing bool
	absent bool    // no verdict expected
	value  float64 // checked when >= 0
}

func TestRules(t *testing.T) {
	steadyDLQ := func(e *Engine, reason event.Reason, perMin int, minutes int, end time.Time) {
		// The baseline minutes: before the previous (evaluated) minute.
		for m := minutes + 1; m >= 2; m-- {
			base := end.Add(-time.Duration(m) * time.Minute)
			for k := range perMin {
				e.ObserveDeadLetter(letter(reason, base.Add(time.Duration(k)*time.Second)), base)
			}
		}
	}
	burst := func(e *Engine, reason event.Reason, n int, at time.Time) {
		for k := range n {
			e.ObserveDeadLetter(letter(reason, at.Add(time.Duration(k)*time.Millisecond)), at)
		}
	}
	now := t0.Add(30*time.Minute + 10*time.Second) // clock for DLQ cases

	cases := []struct {
		name  string
		cfg   Config
		setup func(t *testing.T, e *Engine)
		now   time.Time
		want  []want
	}{
		{
			name: "dlq spike over the floor with a quiet baseline",
			setup: func(t *testing.T, e *Engine) {
				steadyDLQ(e, event.InvalidJSON, 2, 16, now.Truncate(time.Minute))
				burst(e, event.InvalidJSON, 100, now.Truncate(time.Minute).Add(-time.Minute))
			},
			now: now,
			want: []want{
				{key: "dlq_spike/invalid_json", firing: true, value: 100},
				{key: "dlq_spike/oversized", firing: false, value: 0},
				{key: "dlq_spike/late_event", firing: false, value: 0},
			},
		},
		{
			name: "dlq count below the floor is no spike even at 10x baseline",
			setup: func(t *testing.T, e *Engine) {
				steadyDLQ(e, event.InvalidJSON, 1, 16, now.Truncate(time.Minute))
				burst(e, event.InvalidJSON, 15, now.Truncate(time.Minute).Add(-time.Minute))
			},
			now:  now,
			want: []want{{key: "dlq_spike/invalid_json", firing: false, value: 15}},
		},
		{
			name: "dlq count above the floor but within 3x a busy baseline",
			setup: func(t *testing.T, e *Engine) {
				steadyDLQ(e, event.LateEvent, 50, 16, now.Truncate(time.Minute))
				burst(e, event.LateEvent, 100, now.Truncate(time.Minute).Add(-time.Minute))
			},
			now:  now,
			want: []want{{key: "dlq_spike/late_event", firing: false, value: 100}},
		},
		{
			name: "dlq spike in the current partial minute fires without waiting",
			setup: func(t *testing.T, e *Engine) {
				burst(e, event.SchemaViolation, 30, now.Truncate(time.Minute))
			},
			now:  now,
			want: []want{{key: "dlq_spike/schema_violation", firing: true, value: 30}},
		},
		{
			name: "a spike two minutes ago is over",
			setup: func(t *testing.T, e *Engine) {
				burst(e, event.InvalidJSON, 100, now.Truncate(time.Minute).Add(-2*time.Minute))
			},
			now:  now,
			want: []want{{key: "dlq_spike/invalid_json", firing: false, value: 0}},
		},
		{
			name: "replayed dead letters do not count",
			setup: func(t *testing.T, e *Engine) {
				for k := range 100 {
					l := letter(event.LateEvent, now.Add(-time.Duration(k)*time.Millisecond))
					l.ReplayCount = 1
					e.ObserveDeadLetter(l, now)
				}
			},
			now:  now,
			want: []want{{key: "dlq_spike/late_event", firing: false, value: 0}},
		},
		{
			name: "unknown reason from a header becomes its own dimension",
			setup: func(t *testing.T, e *Engine) {
				burst(e, event.Reason("weird"), 25, now.Add(-time.Second))
			},
			now:  now,
			want: []want{{key: "dlq_spike/weird", firing: true, value: 25}},
		},
		{
			name: "revenue far below a steady baseline fires",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 10, 100000)
				must(t, e.ObserveAggregate(rec(10, 0, 1, 10000), seenAt(10)))
				must(t, e.ObserveAggregate(rec(10, 1, 1, 10000), seenAt(10)))
			},
			now: seenAt(10).Add(time.Minute),
			want: []want{
				{key: "revenue_drop/EUR", firing: true, value: 20000},
				{key: "revenue_zero/all", firing: false, value: 20000},
			},
		},
		{
			name: "revenue a little below baseline does not fire",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 10, 100000)
				must(t, e.ObserveAggregate(rec(10, 0, 1, 45000), seenAt(10)))
				must(t, e.ObserveAggregate(rec(10, 1, 1, 45000), seenAt(10)))
			},
			now:  seenAt(10).Add(time.Minute),
			want: []want{{key: "revenue_drop/EUR", firing: false, value: 90000}},
		},
		{
			name: "noisy revenue: a 60% dip stays inside the MAD band",
			setup: func(t *testing.T, e *Engine) {
				for i := range 10 {
					eur := []int64{20000, 100000, 180000}[i%3]
					must(t, e.ObserveAggregate(rec(i, 0, 1, eur), seenAt(i)))
				}
				must(t, e.ObserveAggregate(rec(10, 0, 1, 40000), seenAt(10)))
			},
			now:  seenAt(10).Add(time.Minute),
			want: []want{{key: "revenue_drop/EUR", firing: false, value: 40000}},
		},
		{
			name: "revenue sums the latest revision of every partition",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 10, 100000)
				// Partition 0's first emission missed its orders; revision 2
				// brings them; a stale revision 1 read afterwards is ignored.
				must(t, e.ObserveAggregate(rec(10, 0, 1, 0), seenAt(10)))
				must(t, e.ObserveAggregate(rec(10, 1, 1, 50000), seenAt(10)))
				must(t, e.ObserveAggregate(rec(10, 0, 2, 50000), seenAt(10).Add(20*time.Second)))
				must(t, e.ObserveAggregate(rec(10, 0, 1, 0), seenAt(10).Add(30*time.Second)))
			},
			now:  seenAt(10).Add(time.Minute),
			want: []want{{key: "revenue_drop/EUR", firing: false, value: 100000}},
		},
		{
			name: "too little history gives no revenue_drop verdict",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 3, 100000)
				must(t, e.ObserveAggregate(rec(3, 0, 1, 1), seenAt(3)))
			},
			now:  seenAt(3).Add(time.Minute),
			want: []want{{key: "revenue_drop/EUR", absent: true}},
		},
		{
			name: "an unsettled window is not judged yet: the previous one is",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 10, 100000)
				must(t, e.ObserveAggregate(rec(10, 0, 1, 0), seenAt(10)))
			},
			now:  seenAt(10).Add(30 * time.Second),
			want: []want{{key: "revenue_drop/EUR", firing: false, value: 98000}}, // window 9
		},
		{
			name: "settle delay is configurable",
			cfg:  Config{SettleDelay: 10 * time.Second},
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 10, 100000)
				must(t, e.ObserveAggregate(rec(10, 0, 1, 0), seenAt(10)))
			},
			now:  seenAt(10).Add(30 * time.Second),
			want: []want{{key: "revenue_drop/EUR", firing: true, value: 0}},
		},
		{
			name: "zero revenue while traffic flows, after earlier sales",
			setup: func(t *testing.T, e *Engine) {
				must(t, e.ObserveAggregate(rec(0, 0, 1, 5000), seenAt(0)))
				must(t, e.ObserveAggregate(rec(1, 0, 1, 0), seenAt(1)))
			},
			now:  seenAt(1).Add(time.Minute),
			want: []want{{key: "revenue_zero/all", firing: true, value: 0}, {key: "revenue_drop/EUR", absent: true}},
		},
		{
			// Right after start no session has reached checkout yet.
			name: "zero revenue before the first sale is quiet",
			setup: func(t *testing.T, e *Engine) {
				must(t, e.ObserveAggregate(rec(0, 0, 1, 0), seenAt(0)))
			},
			now:  seenAt(0).Add(time.Minute),
			want: []want{{key: "revenue_zero/all", firing: false}},
		},
		{
			name: "zero revenue without traffic is quiet",
			setup: func(t *testing.T, e *Engine) {
				must(t, e.ObserveAggregate(rec(0, 0, 1, 0, func(r *aggregate.Record) { r.Events = 10 }), seenAt(0)))
			},
			now:  seenAt(0).Add(time.Minute),
			want: []want{{key: "revenue_zero/all", firing: false}},
		},
		{
			name: "payment failure ratio above threshold",
			setup: func(t *testing.T, e *Engine) {
				must(t, e.ObserveAggregate(rec(0, 0, 1, 5000, func(r *aggregate.Record) { r.Orders, r.PaymentFailures = 20, 6 }), seenAt(0)))
				must(t, e.ObserveAggregate(rec(0, 1, 1, 5000, func(r *aggregate.Record) { r.Orders, r.PaymentFailures = 20, 6 }), seenAt(0)))
			},
			now:  seenAt(0).Add(time.Minute),
			want: []want{{key: "payment_failures/all", firing: true, value: 0.3}},
		},
		{
			name: "payment failure ratio with too few orders",
			setup: func(t *testing.T, e *Engine) {
				must(t, e.ObserveAggregate(rec(0, 0, 1, 5000, func(r *aggregate.Record) { r.Orders, r.PaymentFailures = 10, 9 }), seenAt(0)))
			},
			now:  seenAt(0).Add(time.Minute),
			want: []want{{key: "payment_failures/all", firing: false, value: 0.9}},
		},
		{
			name: "late surge counts late_accepted and late_event dead letters of the window",
			setup: func(t *testing.T, e *Engine) {
				for i := range 10 {
					must(t, e.ObserveAggregate(rec(i, 0, 1, 5000, func(r *aggregate.Record) { r.LateAccepted = 10 }), seenAt(i)))
				}
				must(t, e.ObserveAggregate(rec(10, 0, 2, 5000, func(r *aggregate.Record) { r.LateAccepted = 30 }), seenAt(10)))
				ws := t0.Add(10 * time.Minute)
				for k := range 40 {
					e.ObserveDeadLetter(letter(event.LateEvent, ws.Add(time.Duration(k)*time.Second)), ws)
				}
			},
			now:  seenAt(10).Add(time.Minute),
			want: []want{{key: "late_surge/all", firing: true, value: 70}},
		},
		{
			name: "late events at the usual rate are no surge",
			setup: func(t *testing.T, e *Engine) {
				for i := range 11 {
					must(t, e.ObserveAggregate(rec(i, 0, 1, 5000, func(r *aggregate.Record) { r.LateAccepted = 100 }), seenAt(i)))
				}
			},
			now:  seenAt(10).Add(time.Minute),
			want: []want{{key: "late_surge/all", firing: false, value: 100}},
		},
		{
			name:  "stall before any window: measured from the start",
			setup: func(t *testing.T, e *Engine) {},
			now:   t0.Add(3 * time.Minute),
			want:  []want{{key: "pipeline_stall/all", firing: true, value: 180}},
		},
		{
			name: "no stall while windows advance",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 5, 100)
			},
			now:  seenAt(4).Add(2 * time.Minute),
			want: []want{{key: "pipeline_stall/all", firing: false, value: 120}},
		},
		{
			name: "an upsert of an old window is not progress",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 5, 100)
				must(t, e.ObserveAggregate(rec(3, 0, 2, 100), seenAt(4).Add(2*time.Minute)))
			},
			now:  seenAt(4).Add(3 * time.Minute),
			want: []want{{key: "pipeline_stall/all", firing: true, value: 180}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, tc.cfg)
			tc.setup(t, e)
			rs := e.Evaluate(tc.now)
			for _, w := range tc.want {
				r, ok := find(rs, w.key)
				if w.absent {
					if ok {
						t.Errorf("%s: want no verdict, got %+v", w.key, r)
					}
					continue
				}
				if !ok {
					t.Errorf("%s: no verdict among %d results", w.key, len(rs))
					continue
				}
				if r.Firing != w.firing {
					t.Errorf("%s: firing=%v, want %v (%s)", w.key, r.Firing, w.firing, r.Summary)
				}
				if w.value >= 0 && fmt.Sprintf("%.3f", r.Value) != fmt.Sprintf("%.3f", w.value) {
					t.Errorf("%s: value %v, want %v (%s)", w.key, r.Value, w.value, r.Summary)
				}
			}
		})
	}
}

// An upsert that heals a settled window turns its verdict back to healthy.
func TestUpsertHealsVerdict(t *testing.T) {
	e := newEngine(t, Config{})
	history(t, e, 10, 100000)
	must(t, e.ObserveAggregate(rec(10, 0, 1, 0), seenAt(10)))
	must(t, e.ObserveAggregate(rec(10, 1, 1, 0), seenAt(10)))
	now := seenAt(10).Add(time.Minute)
	r, _ := find(e.Evaluate(now), "revenue_drop/EUR")
	if !r.Firing {
		t.Fatalf("revision 1 with no revenue should fire: %s", r.Summary)
	}
	if r.WindowStart != t0.Add(10*time.Minute) || r.WindowEnd != t0.Add(11*time.Minute) {
		t.Errorf("window %v – %v", r.WindowStart, r.WindowEnd)
	}
	must(t, e.ObserveAggregate(rec(10, 0, 2, 50000), now))
	must(t, e.ObserveAggregate(rec(10, 1, 2, 50000), now))
	r, _ = find(e.Evaluate(now.Add(time.Second)), "revenue_drop/EUR")
	if r.Firing || r.Value != 100000 {
		t.Fatalf("healed window still fires: %s", r.Summary)
	}
}

func TestStallRecovers(t *testing.T) {
	e := newEngine(t, Config{StallWindows: 2})
	history(t, e, 3, 100)
	r, _ := find(e.Evaluate(seenAt(2).Add(2*time.Minute)), "pipeline_stall/all")
	if !r.Firing || r.Threshold != 120 {
		t.Fatalf("want stall after 2 windows: %+v", r)
	}
	must(t, e.ObserveAggregate(rec(3, 0, 1, 100), seenAt(2).Add(2*time.Minute+time.Second)))
	r, _ = find(e.Evaluate(seenAt(2).Add(2*time.Minute+2*time.Second)), "pipeline_stall/all")
	if r.Firing {
		t.Fatalf("a new window ends the stall: %+v", r)
	}
}

func TestEngineRejectsBadInput(t *testing.T) {
	if _, err := New(Config{RevenueMinDrop: 2}, t0); err == nil {
		t.Error("RevenueMinDrop 2 accepted")
	}
	if _, err := New(Config{DLQSpikeFloor: -1}, t0); err == nil {
		t.Error("negative floor accepted")
	}
	e := newEngine(t, Config{})
	if err := e.ObserveAggregate(&aggregate.Record{SchemaVersion: 1, WindowStart: "nope", WindowEnd: "x", Revision: 1}, t0); err == nil {
		t.Error("bad window accepted")
	}
}

// Memory stays bounded over a long run: old windows and buckets are pruned.
func TestPruning(t *testing.T) {
	e := newEngine(t, Config{})
	for i := range 500 {
		must(t, e.ObserveAggregate(rec(i, 0, 1, 100), seenAt(i)))
		e.ObserveDeadLetter(letter(event.LateEvent, seenAt(i)), seenAt(i))
		e.Evaluate(seenAt(i))
	}
	if len(e.windows) > 30 || len(e.dlq) > 20 || len(e.lateDLQ) > 30 {
		t.Fatalf("state grows: %d windows, %d dlq buckets, %d late seconds", len(e.windows), len(e.dlq), len(e.lateDLQ))
	}
}

func TestMedianMAD(t *testing.T) {
	for _, tc := range []struct {
		xs       []float64
		med, mad float64
	}{
		{nil, 0, 0},
		{[]float64{5}, 5, 0},
		{[]float64{1, 2, 3, 4}, 2.5, 1},
		{[]float64{1, 1, 2, 2, 4, 6, 9}, 2, 1},
	} {
		if m := median(tc.xs); m != tc.med {
			t.Errorf("median(%v) = %v, want %v", tc.xs, m, tc.med)
		}
		if d := mad(tc.xs); d != tc.mad {
			t.Errorf("mad(%v) = %v, want %v", tc.xs, d, tc.mad)
		}
	}
}
