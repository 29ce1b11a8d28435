// Package rules turns window aggregates (agg.window.v1) and dead letters
// (events.dlq.v1) into verdicts: for every rule and dimension, is it firing
// now, with the value, baseline and threshold that decided it.
//
// It is pure: no I/O, no goroutines, no wall clock. Every observation carries
// the time it was seen (the Kafka message timestamp) and Evaluate takes the
// clock as an argument, so a table test can replay any history.
//
// Choices worth knowing (see also dispatcher/README.md):
//
//   - Revisions: the latest revision per (window_start, source_partition)
//     wins; a window's numbers are the sum over its partitions' latest
//     revisions. An upsert simply replaces the partition's record, so the
//     next Evaluate sees the healed (or worsened) number.
//   - Settling: a window is evaluated only once SettleDelay (default one
//     window length) has passed since any partition's record of it first
//     appeared. That gives the other partitions time to emit theirs, and
//     most allowed-late upserts time to arrive. The window rules look at the
//     newest settled window only; its trailing baseline is the settled
//     windows before it that have records at all (a pipeline outage leaves
//     no window behind rather than a zero, and pipeline_stall covers it).
//   - Dead letters are counted by dlq.failed_at (the processor's clock), not
//     by event time: a burst of hour-old events is trouble now. Replayed
//     dead letters (dlq.replay_count > 0) are not counted: replays are an
//     operator's deliberate act.
package rules

import (
	"fmt"
	"sort"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

// Rule names; with a dimension they key an incident ("dlq_spike/invalid_json").
const (
	DLQSpike        = "dlq_spike"
	RevenueDrop     = "revenue_drop"
	RevenueZero     = "revenue_zero"
	PaymentFailures = "payment_failures"
	LateSurge       = "late_surge"
	PipelineStall   = "pipeline_stall"
)

// DimensionAll is the dimension of rules that are not split.
const DimensionAll = "all"

// Severity of a firing rule.
type Severity string

// Severities. Money and a stopped pipeline are critical; the rest warn.
const (
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

var severities = map[string]Severity{
	DLQSpike:        Warning,
	RevenueDrop:     Critical,
	RevenueZero:     Critical,
	PaymentFailures: Warning,
	LateSurge:       Warning,
	PipelineStall:   Critical,
}

// SeverityOf returns the fixed severity of a rule.
func SeverityOf(rule string) Severity {
	if s, ok := severities[rule]; ok {
		return s
	}
	return Warning
}

// Result is one verdict. Results come for firing and for healthy dimensions
// alike (a healthy one is what resolves an incident); a dimension that
// cannot be judged yet (too little history) gets no result at all.
type Result struct {
	Rule      string
	Dimension string
	Firing    bool
	Severity  Severity
	Title     string
	Summary   string
	Value     float64
	Baseline  float64
	Threshold float64
	// WindowStart and WindowEnd locate the evidence; zero when not relevant.
	WindowStart time.Time
	WindowEnd   time.Time
}

// Key is "rule/dimension", the identity of an incident.
func (r Result) Key() string { return r.Rule + "/" + r.Dimension }

// maxReasonLen bounds a dimension taken from a header: it ends up in an
// incident key, a Kafka key and a Discord embed.
const maxReasonLen = 64

// Engine holds the recent past. Not safe for concurrent use: the dispatcher
// feeds it from one goroutine.
type Engine struct {
	cfg     Config
	started time.Time

	windowMs  int64
	windows   map[int64]*window // by window start (Unix ms)
	maxEnd    int64
	hasEnd    bool
	progress  time.Time // when maxEnd last advanced
	dlq       map[int64]map[string]int64
	lateDLQ   map[int64]int64 // late_event dead letters per second of failed_at (key: Unix ms)
	replays   int64
	rejectAgg int64
}

type window struct {
	start, end int64
	firstSeen  time.Time
	parts      map[int32]*aggregate.Record
}

// New returns an engine whose clock starts at started (used by
// pipeline_stall before any window has been seen).
func New(cfg Config, started time.Time) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{
		cfg:      cfg,
		started:  started,
		windowMs: cfg.WindowSize.Milliseconds(),
		windows:  map[int64]*window{},
		dlq:      map[int64]map[string]int64{},
		lateDLQ:  map[int64]int64{},
	}, nil
}

// Config returns the effective configuration (defaults filled in).
func (e *Engine) Config() Config { return e.cfg }

// SkippedReplays counts dead letters ignored because they were replays.
func (e *Engine) SkippedReplays() int64 { return e.replays }

// ObserveAggregate records one emission of a window, seen at the given time.
func (e *Engine) ObserveAggregate(r *aggregate.Record, seen time.Time) error {
	start, ok1 := event.ParseTime([]byte(r.WindowStart))
	end, ok2 := event.ParseTime([]byte(r.WindowEnd))
	if !ok1 || !ok2 || end <= start {
		e.rejectAgg++
		return fmt.Errorf("rules: aggregate %s has a bad window [%q, %q)", r.Key(), r.WindowStart, r.WindowEnd)
	}
	w := e.windows[start]
	if w == nil {
		w = &window{start: start, end: end, firstSeen: seen, parts: map[int32]*aggregate.Record{}}
		e.windows[start] = w
	} else if seen.Before(w.firstSeen) {
		// Partitions are read concurrently; the earliest sighting defines
		// when the window appeared.
		w.firstSeen = seen
	}
	if prev := w.parts[r.SourcePartition]; prev != nil && prev.Revision >= r.Revision {
		return nil // a duplicate or an older revision read out of order
	}
	w.parts[r.SourcePartition] = r
	e.windowMs = end - start
	if !e.hasEnd || end > e.maxEnd {
		e.maxEnd, e.hasEnd = end, true
		if seen.After(e.progress) {
			e.progress = seen
		}
	}
	e.pruneWindows()
	return nil
}

// ObserveDeadLetter counts one dead letter, seen at the given time (used when
// it lacks dlq.failed_at).
func (e *Engine) ObserveDeadLetter(l *deadletter.Letter, seen time.Time) {
	if l.ReplayCount > 0 {
		e.replays++
		return
	}
	at := l.FailedAt
	if at.IsZero() {
		at = seen
	}
	reason := string(l.Reason)
	if reason == "" {
		reason = "unknown"
	}
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	ms := at.UnixMilli()
	b := floorDiv(ms, e.cfg.DLQBucket.Milliseconds())
	m := e.dlq[b]
	if m == nil {
		m = map[string]int64{}
		e.dlq[b] = m
	}
	m[reason]++
	if reason == string(event.LateEvent) {
		e.lateDLQ[floorDiv(ms, 1000)]++
	}
}

// Evaluate judges every rule at the given clock, in a stable order.
func (e *Engine) Evaluate(now time.Time) []Result {
	e.pruneDLQ(now)
	var out []Result
	out = append(out, e.dlqSpike(now)...)
	out = append(out, e.windowRules(now)...)
	out = append(out, e.stall(now))
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

func (e *Engine) dlqSpike(now time.Time) []Result {
	b := e.cfg.DLQBucket.Milliseconds()
	cur := floorDiv(now.UnixMilli(), b)
	prev := cur - b
	reasons := map[string]bool{}
	for _, r := range event.Reasons() {
		reasons[string(r)] = true
	}
	for _, m := range e.dlq {
		for r := range m {
			reasons[r] = true
		}
	}
	names := make([]string, 0, len(reasons))
	for r := range reasons {
		names = append(names, r)
	}
	sort.Strings(names)

	n := e.cfg.BaselineWindows
	hist := make([]float64, n)
	out := make([]Result, 0, len(names))
	for _, r := range names {
		// The complete previous bucket, or the current one when it already
		// exceeds it: counts only grow, so a partial bucket over the
		// threshold is a spike without waiting for the minute to end.
		value, at := e.dlq[prev][r], prev
		if c := e.dlq[cur][r]; c > value {
			value, at = c, cur
		}
		for i := range hist {
			hist[i] = float64(e.dlq[cur-int64(i+2)*b][r])
		}
		base := median(hist)
		thr := max(float64(e.cfg.DLQSpikeFloor), e.cfg.DLQSpikeMultiple*base)
		firing := float64(value) > thr
		res := Result{
			Rule: DLQSpike, Dimension: r, Firing: firing, Severity: SeverityOf(DLQSpike),
			Title: "DLQ spike: " + r,
			Value: float64(value), Baseline: base, Threshold: thr,
			WindowStart: time.UnixMilli(at).UTC(), WindowEnd: time.UnixMilli(at + b).UTC(),
		}
		res.Summary = fmt.Sprintf("%d %s dead letters in the %s from %s (trailing median %s per %s, threshold %s)",
			value, r, e.cfg.DLQBucket, event.FormatMillis(at), num(base), e.cfg.DLQBucket, num(thr))
		out = append(out, res)
	}
	return out
}

// totals is one window summed over its partitions' latest revisions.
type totals struct {
	start, end int64
	events     int64
	orders     int64
	failures   int64
	late       int64
	revenue    map[string]int64
}

func (e *Engine) totals(w *window) totals {
	t := totals{start: w.start, end: w.end, revenue: map[string]int64{}}
	for _, r := range w.parts {
		t.events += r.Events
		t.orders += r.Orders
		t.failures += r.PaymentFailures
		t.late += r.LateAccepted
		for c, v := range r.RevenueMinor {
			t.revenue[c] += v
		}
	}
	for s := floorDiv(w.start, 1000); s < w.end; s += 1000 {
		t.late += e.lateDLQ[s]
	}
	return t
}

func (e *Engine) settled(now time.Time) []*window {
	settle := e.cfg.SettleDelay
	if settle == 0 {
		settle = time.Duration(e.windowMs) * time.Millisecond
	}
	var ws []*window
	for _, w := range e.windows {
		if !w.firstSeen.Add(settle).After(now) {
			ws = append(ws, w)
		}
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].start < ws[j].start })
	return ws
}

func (e *Engine) windowRules(now time.Time) []Result {
	ws := e.settled(now)
	if len(ws) == 0 {
		return nil
	}
	cur := e.totals(ws[len(ws)-1])
	var hist []totals
	for i := max(0, len(ws)-1-e.cfg.BaselineWindows); i < len(ws)-1; i++ {
		hist = append(hist, e.totals(ws[i]))
	}
	ws0, we := time.UnixMilli(cur.start).UTC(), time.UnixMilli(cur.end).UTC()
	span := event.FormatMillis(cur.start) + " – " + event.FormatMillis(cur.end)
	mk := func(rule, dim, title string, firing bool, value, base, thr float64, summary string) Result {
		return Result{Rule: rule, Dimension: dim, Firing: firing, Severity: SeverityOf(rule), Title: title,
			Summary: summary, Value: value, Baseline: base, Threshold: thr, WindowStart: ws0, WindowEnd: we}
	}
	var out []Result

	// revenue_drop, per currency: robust band around the trailing median.
	if len(hist) >= e.cfg.RevenueMinHistory {
		currencies := map[string]bool{}
		for c := range cur.revenue {
			currencies[c] = true
		}
		for _, h := range hist {
			for c := range h.revenue {
				currencies[c] = true
			}
		}
		names := make([]string, 0, len(currencies))
		for c := range currencies {
			names = append(names, c)
		}
		sort.Strings(names)
		xs := make([]float64, len(hist))
		for _, c := range names {
			for i, h := range hist {
				xs[i] = float64(h.revenue[c])
			}
			m, mad := median(xs), mad(xs)
			band := m - e.cfg.RevenueMADK*1.4826*mad
			thr := min(band, m*(1-e.cfg.RevenueMinDrop))
			v := float64(cur.revenue[c])
			firing := m > 0 && v < thr
			out = append(out, mk(RevenueDrop, c, "Revenue drop: "+c, firing, v, m, thr,
				fmt.Sprintf("%s revenue %s (minor units) in window %s; trailing median %s over %d windows, MAD %s, alert below %s",
					c, num(v), span, num(m), len(hist), num(mad), num(thr))))
		}
	}

	// revenue_zero: traffic flows but nothing is sold.
	var total int64
	for _, v := range cur.revenue {
		total += v
	}
	// Only once the shop has sold in a trailing window: right after start the
	// first sessions have not reached checkout yet, and that is not an outage.
	sold := false
	for _, h := range hist {
		for _, v := range h.revenue {
			sold = sold || v > 0
		}
	}
	zeroFiring := sold && total == 0 && cur.events >= e.cfg.ZeroRevenueMinEvents
	out = append(out, mk(RevenueZero, DimensionAll, "Zero revenue while traffic flows", zeroFiring,
		float64(total), float64(cur.events), float64(e.cfg.ZeroRevenueMinEvents),
		fmt.Sprintf("revenue %d (minor units, all currencies) from %d events in window %s; fires at zero revenue with at least %d events after earlier sales",
			total, cur.events, span, e.cfg.ZeroRevenueMinEvents)))

	// payment_failures: ratio with a minimum order count.
	ratio := 0.0
	if cur.orders > 0 {
		ratio = float64(cur.failures) / float64(cur.orders)
	}
	ratios := make([]float64, 0, len(hist))
	for _, h := range hist {
		if h.orders > 0 {
			ratios = append(ratios, float64(h.failures)/float64(h.orders))
		}
	}
	pfFiring := cur.orders >= e.cfg.PaymentMinOrders && ratio > e.cfg.PaymentFailureRatio
	out = append(out, mk(PaymentFailures, DimensionAll, "Payment failure ratio", pfFiring,
		ratio, median(ratios), e.cfg.PaymentFailureRatio,
		fmt.Sprintf("%d payment failures / %d orders = %.1f%% in window %s (threshold %.1f%% with at least %d orders)",
			cur.failures, cur.orders, 100*ratio, span, 100*e.cfg.PaymentFailureRatio, e.cfg.PaymentMinOrders)))

	// late_surge: late_accepted + late_event dead letters per window.
	lates := make([]float64, len(hist))
	for i, h := range hist {
		lates[i] = float64(h.late)
	}
	lbase := median(lates)
	lthr := max(float64(e.cfg.LateFloor), e.cfg.LateMultiple*lbase)
	out = append(out, mk(LateSurge, DimensionAll, "Late-event surge", float64(cur.late) > lthr,
		float64(cur.late), lbase, lthr,
		fmt.Sprintf("%d late events (late_accepted + late_event dead letters) in window %s; trailing median %s, threshold %s",
			cur.late, span, num(lbase), num(lthr))))
	return out
}

func (e *Engine) stall(now time.Time) Result {
	size := time.Duration(e.windowMs) * time.Millisecond
	limit := time.Duration(e.cfg.StallWindows) * size
	since := e.started
	if e.hasEnd && e.progress.After(since) {
		since = e.progress
	}
	idle := max(now.Sub(since), 0)
	res := Result{
		Rule: PipelineStall, Dimension: DimensionAll, Firing: idle >= limit, Severity: SeverityOf(PipelineStall),
		Title: "Pipeline stall",
		Value: idle.Seconds(), Threshold: limit.Seconds(),
	}
	if e.hasEnd {
		res.WindowStart = time.UnixMilli(e.maxEnd - e.windowMs).UTC()
		res.WindowEnd = time.UnixMilli(e.maxEnd).UTC()
		res.Summary = fmt.Sprintf("newest window_end %s has not advanced for %s (alert after %s = %d windows)",
			event.FormatMillis(e.maxEnd), idle.Round(time.Second), limit, e.cfg.StallWindows)
	} else {
		res.Summary = fmt.Sprintf("no aggregate window seen for %s (alert after %s = %d windows)",
			idle.Round(time.Second), limit, e.cfg.StallWindows)
	}
	return res
}

// pruneWindows keeps enough windows behind the newest for a settled window
// and its baseline, measured from the data (not the clock) so a stalled
// pipeline keeps its history.
func (e *Engine) pruneWindows() {
	keep := int64(e.cfg.BaselineWindows+10) * e.windowMs
	if s := e.cfg.SettleDelay.Milliseconds(); s > e.windowMs {
		keep += s
	}
	for s, w := range e.windows {
		if w.end < e.maxEnd-keep {
			delete(e.windows, s)
		}
	}
}

func (e *Engine) pruneDLQ(now time.Time) {
	b := e.cfg.DLQBucket.Milliseconds()
	oldest := floorDiv(now.UnixMilli(), b) - int64(e.cfg.BaselineWindows+2)*b
	for k := range e.dlq {
		if k < oldest {
			delete(e.dlq, k)
		}
	}
	// late_event counts must outlive the oldest window still kept.
	for _, w := range e.windows {
		oldest = min(oldest, floorDiv(w.start, 1000))
	}
	for s := range e.lateDLQ {
		if s < oldest {
			delete(e.lateDLQ, s)
		}
	}
}

// floorDiv rounds ms down to a multiple of size (a true floor, also before 1970).
func floorDiv(ms, size int64) int64 {
	q := ms / size
	if ms%size != 0 && ms < 0 {
		q--
	}
	return q * size
}
