package rules

import (
	"math"
	"slices"
	"strings"
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

// letter is a dead letter of source offset off on raw partition 0.
func letter(reason event.Reason, at time.Time, off int64) *deadletter.Letter {
	return &deadletter.Letter{Reason: reason, Topic: "events.raw.v1", FailedAt: at, Offset: off}
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// withCfg is DefaultConfig changed by f.
func withCfg(f func(*Config)) Config {
	c := DefaultConfig()
	f(&c)
	return c
}

// feed is a processor reading `input` records a minute on one source
// partition, from minute `from` to minute `to` (exclusive) after t0, of
// which perMinute[reason] are dead letters, spread over the minute.
type feed struct {
	e    *Engine
	next int64 // next source offset
}

func (f *feed) minutes(from, to int, input int64, perMinute map[event.Reason]int64) {
	for m := from; m < to; m++ {
		f.spread(t0.Add(time.Duration(m)*time.Minute), time.Minute, input, perMinute)
	}
}

// spread processes input records in [at, at+d), the dead letters among them
// at even steps.
func (f *feed) spread(at time.Time, d time.Duration, input int64, dead map[event.Reason]int64) {
	var n int64
	for _, c := range dead {
		n += c
	}
	var reasons []event.Reason
	for _, r := range event.Reasons() {
		for range dead[r] {
			reasons = append(reasons, r)
		}
	}
	for r, c := range dead {
		if !slices.Contains(event.Reasons(), r) {
			for range c {
				reasons = append(reasons, r)
			}
		}
	}
	for i, r := range reasons {
		off := f.next + int64(i)*input/max(n, 1)
		ts := at.Add(time.Duration(int64(i) * int64(d) / max(n, 1)))
		f.e.ObserveDeadLetter(letter(r, ts, off), ts)
	}
	f.next += input
}

// defaultMix is the dead letters of 12000 records under the producer's
// default chaos: 1 % malformed, 1 % too late, 0.2 % future, 0.1 % oversized.
var defaultMix = map[event.Reason]int64{event.InvalidJSON: 50, event.SchemaViolation: 65, event.UnsupportedSchema: 5,
	event.LateEvent: 120, event.FutureEvent: 24, event.Oversized: 12}

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

func TestSpikeRules(t *testing.T) {
	now := t0.Add(20*time.Minute + 10*time.Second) // judges minute 19 and the partial minute 20
	cases := []struct {
		name  string
		cfg   Config
		setup func(f *feed)
		want  []want
	}{
		{
			name:  "the default chaos mix is the baseline",
			setup: func(f *feed) { f.minutes(0, 21, 12000, defaultMix) },
			want: []want{
				{key: "dlq_spike/malformed", value: 0.01}, {key: "dlq_spike/future_event", value: 0.002},
				{key: "dlq_spike/oversized", value: 0.001}, {key: "late_surge/all", value: 0.01},
			},
		},
		{
			name: "a malformed burst is one dimension, whatever its reasons",
			setup: func(f *feed) {
				f.minutes(0, 19, 12000, defaultMix)
				f.minutes(19, 20, 12600, map[event.Reason]int64{event.InvalidJSON: 300, event.SchemaViolation: 300, event.UnsupportedSchema: 20,
					event.LateEvent: 120, event.FutureEvent: 24, event.Oversized: 12})
			},
			want: []want{
				{key: "dlq_spike/malformed", firing: true, value: 620.0 / 12600},
				{key: "dlq_spike/invalid_json", absent: true}, {key: "dlq_spike/schema_violation", absent: true},
				{key: "late_surge/all", value: 120.0 / 12600},
			},
		},
		{
			name: "a late burst belongs to late_surge alone",
			setup: func(f *feed) {
				f.minutes(0, 19, 12000, defaultMix)
				f.minutes(19, 20, 12500, map[event.Reason]int64{event.InvalidJSON: 50, event.SchemaViolation: 65, event.UnsupportedSchema: 5,
					event.LateEvent: 620, event.FutureEvent: 24, event.Oversized: 12})
			},
			want: []want{
				{key: "late_surge/all", firing: true, value: 620.0 / 12500},
				{key: "dlq_spike/late_event", absent: true}, {key: "dlq_spike/malformed", value: 120.0 / 12500},
			},
		},
		{
			name: "a processor catching up is no spike: ten minutes of input and their dead letters in one",
			setup: func(f *feed) {
				f.minutes(0, 10, 12000, defaultMix)
				big := map[event.Reason]int64{}
				for r, c := range defaultMix {
					big[r] = 10 * c
				}
				f.minutes(19, 20, 120000, big)
			},
			want: []want{{key: "dlq_spike/malformed", value: 0.01}, {key: "late_surge/all", value: 0.01}},
		},
		{
			name: "3x the usual share but not more than the floor is no spike",
			setup: func(f *feed) {
				f.minutes(0, 19, 1000, map[event.Reason]int64{event.Oversized: 2})
				f.minutes(19, 20, 1000, map[event.Reason]int64{event.Oversized: 20})
			},
			want: []want{{key: "dlq_spike/oversized", value: -1}},
		},
		{
			name: "over the floor but within 3x the usual share is no spike",
			setup: func(f *feed) {
				f.minutes(0, 19, 12000, defaultMix)
				f.minutes(19, 20, 12000, map[event.Reason]int64{event.LateEvent: 300})
			},
			want: []want{{key: "late_surge/all", value: 0.025}},
		},
		{
			name: "a spike in the current partial minute fires without waiting",
			setup: func(f *feed) {
				f.minutes(0, 20, 12000, defaultMix)
				f.spread(t0.Add(20*time.Minute), 5*time.Second, 1000, map[event.Reason]int64{event.FutureEvent: 200})
			},
			want: []want{{key: "dlq_spike/future_event", firing: true, value: 200.0 / 1000}},
		},
		{
			name: "a spike two minutes ago is over",
			setup: func(f *feed) {
				f.minutes(0, 18, 12000, defaultMix)
				f.minutes(18, 19, 12000, map[event.Reason]int64{event.InvalidJSON: 600})
				f.minutes(19, 21, 12000, defaultMix)
			},
			want: []want{{key: "dlq_spike/malformed", value: 0.01}},
		},
		{
			name: "warm-up: one minute of history is no verdict",
			setup: func(f *feed) {
				f.minutes(19, 20, 12000, defaultMix)
				f.spread(t0.Add(20*time.Minute), 10*time.Second, 2000, map[event.Reason]int64{event.InvalidJSON: 600})
			},
			want: []want{{key: "dlq_spike/malformed", absent: true}, {key: "late_surge/all", absent: true}},
		},
		{
			name: "warm-up: two minutes of history judge, and a spike against them fires",
			setup: func(f *feed) {
				f.minutes(18, 20, 12000, defaultMix)
				f.spread(t0.Add(20*time.Minute), 10*time.Second, 2000, map[event.Reason]int64{event.InvalidJSON: 600})
			},
			want: []want{{key: "dlq_spike/malformed", firing: true, value: 0.3}, {key: "late_surge/all", value: 0}},
		},
		{
			name: "warm-up is configurable",
			cfg:  withCfg(func(c *Config) { c.WarmupBuckets = 5 }),
			setup: func(f *feed) {
				f.minutes(16, 20, 12000, defaultMix)
				f.spread(t0.Add(20*time.Minute), 10*time.Second, 2000, map[event.Reason]int64{event.InvalidJSON: 600})
			},
			want: []want{{key: "dlq_spike/malformed", absent: true}},
		},
		{
			name: "minutes without traffic (an outage) are not a zero baseline",
			setup: func(f *feed) {
				f.minutes(0, 5, 12000, defaultMix)
				// nothing processed in minutes 5..18
				f.minutes(19, 20, 12000, defaultMix)
			},
			want: []want{{key: "dlq_spike/malformed", value: 0.01}, {key: "late_surge/all", value: 0.01}},
		},
		{
			name: "replayed dead letters do not count, but show the input read",
			setup: func(f *feed) {
				f.minutes(0, 19, 12000, defaultMix)
				at := t0.Add(19 * time.Minute)
				for k := range 500 {
					l := letter(event.LateEvent, at.Add(time.Duration(k)*time.Millisecond), f.next+int64(k))
					l.ReplayCount = 1
					f.e.ObserveDeadLetter(l, at)
				}
				f.next += 500
			},
			want: []want{{key: "late_surge/all", value: 0}},
		},
		{
			name: "unknown reason from a header becomes its own dimension",
			setup: func(f *feed) {
				f.minutes(0, 19, 12000, defaultMix)
				f.minutes(19, 20, 12000, map[event.Reason]int64{"weird": 25})
			},
			want: []want{{key: "dlq_spike/weird", firing: true, value: 25.0 / 12000}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == (Config{}) {
				// These cases judge the band on single windows;
				// TestRevenueDropNeedsWindowsInARow covers the default.
				cfg = withCfg(func(c *Config) { c.RevenueDropWindows = 1 })
			}
			f := &feed{e: newEngine(t, cfg)}
			tc.setup(f)
			check(t, f.e.Evaluate(now), tc.want)
		})
	}
}

// A bucket in which nothing was processed (the producer stopped after a
// burst) is judged healthy, and its texts say there was no input rather
// than quoting a share of ~0 records.
func TestSpikeVerdictOnABucketWithoutInput(t *testing.T) {
	f := &feed{e: newEngine(t, DefaultConfig())}
	f.minutes(0, 18, 12000, defaultMix)
	f.minutes(18, 19, 12600, map[event.Reason]int64{event.InvalidJSON: 600})
	// Nothing in minutes 19 and 20.
	rs := f.e.Evaluate(t0.Add(20*time.Minute + 10*time.Second))
	r, ok := find(rs, "dlq_spike/malformed")
	if !ok || r.Firing {
		t.Fatalf("malformed verdict %+v (found %v): want healthy", r, ok)
	}
	if r.ValueText != "0 dead letters, no input in the minute" || !strings.Contains(r.Summary, "UTC: no records processed.") {
		t.Errorf("texts of an empty bucket: %q / %q", r.ValueText, r.Summary)
	}
}

// A processor that restarts from its checkpoint writes some dead letters
// again; each counts once.
func TestRedeliveredDeadLettersCountOnce(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	f := &feed{e: e}
	f.minutes(0, 19, 12000, defaultMix)
	// Minute 19: the usual mix, then the same 100 malformed dead letters
	// five times more (five restarts from one checkpoint).
	f.minutes(19, 20, 12000, defaultMix)
	for range 5 {
		for k := range 100 {
			at := t0.Add(19*time.Minute + 50*time.Second)
			e.ObserveDeadLetter(letter(event.InvalidJSON, at, int64(18*12000+k*100)), at)
		}
	}
	r, _ := find(e.Evaluate(t0.Add(20*time.Minute+10*time.Second)), "dlq_spike/malformed")
	if r.Firing || e.SkippedRedeliveries() == 0 {
		t.Fatalf("redelivered dead letters counted: %s (skipped %d)", r.Summary, e.SkippedRedeliveries())
	}
}

// check compares verdicts with the wanted ones.
func check(t *testing.T, rs []Result, ws []want) {
	t.Helper()
	for _, w := range ws {
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
		// Shares are estimated from source offsets: within 5 % of the truth.
		if w.value >= 0 && math.Abs(r.Value-w.value) > 0.05*w.value+1e-9 {
			t.Errorf("%s: value %v, want %v (%s)", w.key, r.Value, w.value, r.Summary)
		}
	}
}

func TestWindowRules(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		setup func(t *testing.T, e *Engine)
		now   time.Time
		want  []want
	}{
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
			name: "too little history gives no revenue verdict",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 3, 100000)
				must(t, e.ObserveAggregate(rec(3, 0, 1, 0), seenAt(3)))
			},
			now:  seenAt(3).Add(time.Minute),
			want: []want{{key: "revenue_drop/EUR", absent: true}, {key: "revenue_zero/all", absent: true}},
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
			cfg:  withCfg(func(c *Config) { c.SettleDelay, c.RevenueDropWindows = 10*time.Second, 1 }),
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
				history(t, e, 5, 5000)
				must(t, e.ObserveAggregate(rec(5, 0, 1, 0), seenAt(5)))
				must(t, e.ObserveAggregate(rec(5, 1, 1, 0), seenAt(5)))
			},
			now:  seenAt(5).Add(time.Minute),
			want: []want{{key: "revenue_zero/all", firing: true, value: 0}, {key: "revenue_drop/EUR", firing: true, value: 0}},
		},
		{
			// Right after start no session has reached checkout yet.
			name: "zero revenue before the first sale is quiet",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 6, 0)
			},
			now:  seenAt(5).Add(time.Minute),
			want: []want{{key: "revenue_zero/all", firing: false}},
		},
		{
			name: "zero revenue without traffic is quiet",
			setup: func(t *testing.T, e *Engine) {
				history(t, e, 5, 5000)
				must(t, e.ObserveAggregate(rec(5, 0, 1, 0, func(r *aggregate.Record) { r.Events = 10 }), seenAt(5)))
				must(t, e.ObserveAggregate(rec(5, 1, 1, 0, func(r *aggregate.Record) { r.Events = 10 }), seenAt(5)))
			},
			now:  seenAt(5).Add(time.Minute),
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
			name:  "no stall verdict before any window: nothing to measure from",
			setup: func(t *testing.T, e *Engine) {},
			now:   t0.Add(30 * time.Minute),
			want:  []want{{key: "pipeline_stall/all", absent: true}},
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
			cfg := tc.cfg
			if cfg == (Config{}) {
				// These cases judge the band on single windows;
				// TestRevenueDropNeedsWindowsInARow covers the default.
				cfg = withCfg(func(c *Config) { c.RevenueDropWindows = 1 })
			}
			e := newEngine(t, cfg)
			tc.setup(t, e)
			check(t, e.Evaluate(tc.now), tc.want)
		})
	}
}

// An upsert that heals a settled window turns its verdict back to healthy.
// TestWindowWaitsForItsPartitions: a window one partition has not sent yet
// (its worker lags the others) is not judged on the partitions that did; it
// is once the last arrives, and after three settle delays without it.
func TestWindowWaitsForItsPartitions(t *testing.T) {
	setup := func() *Engine {
		e := newEngine(t, withCfg(func(c *Config) { c.RevenueDropWindows = 1 }))
		history(t, e, 10, 100000)
		must(t, e.ObserveAggregate(rec(10, 0, 1, 40000), seenAt(10)))
		return e
	}
	e := setup()
	settled := seenAt(10).Add(time.Minute) // the default settle delay is one window
	r, _ := find(e.Evaluate(settled), "revenue_drop/EUR")
	if r.Firing || r.WindowStart != t0.Add(9*time.Minute) {
		t.Fatalf("judged %v – %v (value %v, firing %v); want window 9, the newest with both partitions", r.WindowStart, r.WindowEnd, r.Value, r.Firing)
	}
	must(t, e.ObserveAggregate(rec(10, 1, 1, 60000), settled.Add(5*time.Second)))
	r, _ = find(e.Evaluate(settled.Add(6*time.Second)), "revenue_drop/EUR")
	if r.Firing || r.WindowStart != t0.Add(10*time.Minute) || r.Value != 100000 {
		t.Fatalf("judged %v (value %v, firing %v); want window 10 whole, 100000, quiet", r.WindowStart, r.Value, r.Firing)
	}

	e = setup() // partition 1 never sends window 10
	r, _ = find(e.Evaluate(seenAt(10).Add(3*time.Minute-time.Second)), "revenue_drop/EUR")
	if r.WindowStart != t0.Add(9*time.Minute) {
		t.Fatalf("judged window %v before three settle delays; want 9", r.WindowStart)
	}
	r, _ = find(e.Evaluate(seenAt(10).Add(3*time.Minute)), "revenue_drop/EUR")
	if r.WindowStart != t0.Add(10*time.Minute) || !r.Firing || r.Value != 40000 {
		t.Fatalf("after three settle delays: window %v, value %v, firing %v; want window 10 judged on what came (40000, firing)", r.WindowStart, r.Value, r.Firing)
	}
}

// TestRevenueDropNeedsWindowsInARow: with the default, one window far
// below the baseline is not an alert (a few orders of very unequal amounts
// make such windows on a healthy stack); two in a row are, and the next
// window back in the band resolves it.
func TestRevenueDropNeedsWindowsInARow(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	history(t, e, 10, 100000)
	for _, p := range []int32{0, 1} {
		must(t, e.ObserveAggregate(rec(10, p, 1, 10000), seenAt(10)))
	}
	r, _ := find(e.Evaluate(seenAt(10).Add(time.Minute)), "revenue_drop/EUR")
	if r.Firing || r.Value != 20000 {
		t.Fatalf("one low window: firing %v, value %v; want a quiet verdict on 20000: %s", r.Firing, r.Value, r.Summary)
	}
	for _, p := range []int32{0, 1} {
		must(t, e.ObserveAggregate(rec(11, p, 1, 15000), seenAt(11)))
	}
	r, _ = find(e.Evaluate(seenAt(11).Add(time.Minute)), "revenue_drop/EUR")
	if !r.Firing || r.Value != 30000 || !strings.Contains(r.Summary, "(the window before: EUR 200.00)") ||
		!strings.Contains(r.Summary, "in 2 windows in a row") {
		t.Fatalf("two low windows in a row: firing %v, value %v; want firing on 30000: %s", r.Firing, r.Value, r.Summary)
	}
	for _, p := range []int32{0, 1} {
		must(t, e.ObserveAggregate(rec(12, p, 1, 50000), seenAt(12)))
	}
	if r, _ = find(e.Evaluate(seenAt(12).Add(time.Minute)), "revenue_drop/EUR"); r.Firing {
		t.Fatalf("back in the band: still firing: %s", r.Summary)
	}
}

// TestRevenueDropRunIsConsecutive: two low windows with a window missing
// between them are not two in a row.
func TestRevenueDropRunIsConsecutive(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	history(t, e, 10, 100000)
	for _, w := range []int{10, 12} { // window 11 never came
		for _, p := range []int32{0, 1} {
			must(t, e.ObserveAggregate(rec(w, p, 1, 10000), seenAt(w)))
		}
	}
	if r, _ := find(e.Evaluate(seenAt(12).Add(time.Minute)), "revenue_drop/EUR"); r.Firing || r.WindowStart != t0.Add(12*time.Minute) {
		t.Fatalf("windows 10 and 12 low, 11 missing: judged %v, firing %v; want window 12, quiet: %s", r.WindowStart, r.Firing, r.Summary)
	}
}

func TestUpsertHealsVerdict(t *testing.T) {
	e := newEngine(t, withCfg(func(c *Config) { c.RevenueDropWindows = 1 }))
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
	e := newEngine(t, withCfg(func(c *Config) { c.StallWindows = 2 }))
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
	if _, err := New(withCfg(func(c *Config) { c.RevenueMinDrop = 2 })); err == nil {
		t.Error("RevenueMinDrop 2 accepted")
	}
	if _, err := New(withCfg(func(c *Config) { c.DLQSpikeFloor = -1 })); err == nil {
		t.Error("negative floor accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("a zero Config accepted: zero values are not defaults")
	}
	e := newEngine(t, DefaultConfig())
	if err := e.ObserveAggregate(&aggregate.Record{SchemaVersion: 1, WindowStart: "nope", WindowEnd: "x", Revision: 1}, t0); err == nil {
		t.Error("bad window accepted")
	}
}

// Memory stays bounded over a long run: windows beyond a baseline behind
// the newest, dead letters beyond the lookback (no more than a restarted
// dispatcher re-reads) are forgotten.
func TestPruning(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	f := &feed{e: e}
	for i := range 300 {
		must(t, e.ObserveAggregate(rec(i, 0, 1, 100), seenAt(i)))
		f.minutes(i, i+1, 1000, map[event.Reason]int64{event.LateEvent: 10})
		e.Evaluate(seenAt(i))
	}
	if len(e.windows) > 22 || len(e.buckets) > 32 || len(e.seen) > 320 {
		t.Fatalf("state grows: %d windows, %d buckets, %d dead letters remembered", len(e.windows), len(e.buckets), len(e.seen))
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

// The stall is measured from the data: from the earliest Kafka timestamp of
// a record of the newest window, whatever order the partitions are read in
// (a restarted dispatcher reads them concurrently), and the same whenever
// the engine is rebuilt from those records.
func TestStallMeasuredFromTheData(t *testing.T) {
	early, late := seenAt(4), seenAt(4).Add(40*time.Second)
	for _, order := range [][]int32{{0, 1}, {1, 0}} {
		e := newEngine(t, DefaultConfig())
		history(t, e, 4, 100)
		for _, p := range order {
			at := early
			if p == 1 {
				at = late
			}
			must(t, e.ObserveAggregate(rec(4, p, 1, 100), at))
		}
		now := early.Add(3*time.Minute + 10*time.Second)
		r, ok := find(e.Evaluate(now), "pipeline_stall/all")
		if !ok || !r.Firing || r.Value != 190 {
			t.Fatalf("read order %v: %+v", order, r)
		}
		if r.ValueText != "window end unchanged for 3m10s" || r.BaselineText != "" || r.ThresholdText != "3m0s (3 windows)" {
			t.Errorf("texts %q %q %q", r.ValueText, r.BaselineText, r.ThresholdText)
		}
		if r.WindowStart != t0.Add(4*time.Minute) || r.WindowEnd != t0.Add(5*time.Minute) {
			t.Errorf("newest window %v – %v", r.WindowStart, r.WindowEnd)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	err := withCfg(func(c *Config) { c.WindowSize, c.DLQBucket, c.PaymentFailureRatio = 0, 1500*time.Millisecond, 0 }).Validate()
	for _, w := range []string{"WindowSize must be positive", "DLQBucket must be a whole number of seconds", "PaymentFailureRatio must be in (0, 1]"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want it to say %q", err, w)
		}
	}
	if !strings.HasPrefix(err.Error(), "WindowSize ") {
		t.Errorf("errors do not start with the field they name: %v", err)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{pct(0.123), "12.3 %"}, {pct(0.001), "0.10 %"}, {pct(0), "0.0 %"}, {pct(1), "100.0 %"},
		{money("EUR", 123456), "EUR 1,234.56"}, {money("JPY", 1234567), "JPY 1,234,567"},
		{money("KWD", 1500), "KWD 1.500"}, {money("USD", 5), "USD 0.05"}, {money("EUR", -250), "EUR -2.50"},
		{short(time.Minute), "1m"}, {short(90 * time.Minute), "1h30m"}, {short(2 * time.Hour), "2h"}, {short(2 * time.Second), "2s"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// Every rule is stated with its numbers, one readable line each.
func TestDescribe(t *testing.T) {
	lines := DefaultConfig().Describe()
	for _, rule := range Names() {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, rule+"/")
		}
		if !found {
			t.Errorf("rule %s is not described in %q", rule, lines)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "{") || strings.Contains(l, "%!") {
			t.Errorf("not a readable line: %q", l)
		}
	}
}
