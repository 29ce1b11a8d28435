// Package rules turns window aggregates (agg.window.v1) and dead letters
// (events.dlq.v1) into verdicts: for every rule and dimension, is it firing
// now, with the value, baseline and threshold that decided it.
//
// It is pure: no I/O, no goroutines, no wall clock. Every observation carries
// the Kafka timestamp of its record and Evaluate takes the clock as an
// argument, so a test can replay any history, and a dispatcher that re-reads
// its topics after a restart arrives at the same state.
//
// Choices worth knowing (dispatcher/README.md has the long form):
//
//   - One cause, one incident. Each signal has one owner: malformed,
//     oversized and future_event dead letters belong to dlq_spike (the three
//     malformed reasons are one dimension: one broken producer emits all of
//     them), late_event dead letters to late_surge, money to the revenue and
//     payment rules, progress to pipeline_stall. Allowed-late events are
//     healed by upserts and alert nothing.
//   - Spikes are shares of the input, against a learned baseline. Dead
//     letters are counted per bucket of dlq.failed_at, divided by the input
//     the processor read in that bucket (measured from the dead letters' own
//     source offsets), and compared with the median share of the buckets in
//     which the pipeline ran. So the default chaos mix is the baseline, a
//     processor catching up after an outage is not a spike, and a rule with
//     too little history (WarmupBuckets) gives no verdict at all.
//   - Revisions: the latest revision per (window_start, source_partition)
//     wins; a window is the sum of its partitions. An upsert replaces the
//     partition's record, so the next Evaluate sees the healed number.
//   - Settling: a window is judged once SettleDelay has passed since its
//     first record and every source partition seen has sent its record (or
//     three SettleDelays have passed: a partition without events in the
//     window sends none). The window rules judge the newest settled window against
//     the settled windows before it (an outage leaves no window rather than a
//     zero; pipeline_stall covers outages).
//   - The stall is measured from the data: the Kafka timestamp of the first
//     record that carried the newest window_end.
package rules

import (
	"fmt"
	"sort"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

// Rule names; with a dimension they key an incident ("dlq_spike/malformed").
const (
	DLQSpike        = "dlq_spike"
	RevenueDrop     = "revenue_drop"
	RevenueZero     = "revenue_zero"
	PaymentFailures = "payment_failures"
	LateSurge       = "late_surge"
	PipelineStall   = "pipeline_stall"
)

// Names lists the rules in a stable order.
func Names() []string {
	return []string{DLQSpike, LateSurge, RevenueDrop, RevenueZero, PaymentFailures, PipelineStall}
}

// Dimensions that are not taken from the data.
const (
	DimensionAll       = "all"
	DimensionMalformed = "malformed"
)

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
	// Value, Baseline and Threshold are the numbers that decided, in the
	// rule's unit; the texts say the same for a human, with the unit.
	// BaselineText is empty when the rule has no baseline.
	Value, Baseline, Threshold             float64
	ValueText, BaselineText, ThresholdText string
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
	cfg Config

	windowMs int64
	windows  map[int64]*window // by window start (Unix ms)
	// The newest window_end seen and the earliest Kafka timestamp of a
	// record carrying it: when the pipeline last made progress.
	maxEnd   int64
	hasEnd   bool
	progress time.Time

	buckets map[int64]*bucket // by bucket start (Unix ms of failed_at)
	seen    map[coord]int64   // dead letters counted, by source coordinates → bucket

	redelivered, rejectAgg int64
}

type window struct {
	start, end int64
	firstSeen  time.Time
	parts      map[int32]*aggregate.Record
}

// New returns an engine for a valid configuration.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{
		cfg:      cfg,
		windowMs: cfg.WindowSize.Milliseconds(),
		windows:  map[int64]*window{},
		buckets:  map[int64]*bucket{},
		seen:     map[coord]int64{},
	}, nil
}

// SkippedRedeliveries counts dead letters seen twice (a processor that
// restarted from its checkpoint writes some again); each counts once.
func (e *Engine) SkippedRedeliveries() int64 { return e.redelivered }

// ObserveAggregate records one emission of a window, written at the given
// time (its Kafka timestamp).
func (e *Engine) ObserveAggregate(r *aggregate.Record, written time.Time) error {
	start, ok1 := event.ParseTime([]byte(r.WindowStart))
	end, ok2 := event.ParseTime([]byte(r.WindowEnd))
	if !ok1 || !ok2 || end <= start {
		e.rejectAgg++
		return fmt.Errorf("rules: aggregate %s has a bad window [%q, %q)", r.Key(), r.WindowStart, r.WindowEnd)
	}
	// The pipeline ran in this bucket, with or without dead letters.
	e.bucketAt(written.UnixMilli()).active = true
	switch {
	case !e.hasEnd || end > e.maxEnd:
		e.maxEnd, e.hasEnd, e.progress = end, true, written
	case end == e.maxEnd && written.Before(e.progress):
		// Partitions are read concurrently: the earliest record of the
		// newest window is when it appeared.
		e.progress = written
	}
	w := e.windows[start]
	if w == nil {
		w = &window{start: start, end: end, firstSeen: written, parts: map[int32]*aggregate.Record{}}
		e.windows[start] = w
	} else if written.Before(w.firstSeen) {
		w.firstSeen = written
	}
	if prev := w.parts[r.SourcePartition]; prev != nil && prev.Revision >= r.Revision {
		return nil // a duplicate or an older revision read out of order
	}
	w.parts[r.SourcePartition] = r
	e.windowMs = end - start
	e.pruneWindows()
	return nil
}

// ObserveDeadLetter counts one dead letter, written at the given time
// (used when it lacks dlq.failed_at).
func (e *Engine) ObserveDeadLetter(l *deadletter.Letter, written time.Time) {
	at := l.FailedAt
	if at.IsZero() {
		at = written
	}
	ms := at.UnixMilli()
	src := source{l.Topic, l.Partition}
	c := coord{src, l.Offset}
	if _, dup := e.seen[c]; dup {
		e.redelivered++
		return
	}
	b := e.bucketAt(ms)
	e.seen[c] = b.start
	// Every dead letter, replays included, shows how far the processor
	// read its source partition: the input it processed.
	b.mark(src, l.Offset)
	if l.ReplayCount > 0 {
		return // an operator's deliberate act, not new trouble
	}
	rule, dim := spikeOwner(l.Reason)
	b.add(rule+"/"+dim, string(l.Reason))
}

// spikeOwner names the rule and dimension that own a dead-letter reason.
func spikeOwner(r event.Reason) (rule, dimension string) {
	switch r {
	case event.LateEvent:
		return LateSurge, DimensionAll
	case event.InvalidJSON, event.UnsupportedSchema, event.SchemaViolation:
		return DLQSpike, DimensionMalformed
	case "":
		return DLQSpike, "unknown"
	}
	s := string(r)
	if len(s) > maxReasonLen {
		s = s[:maxReasonLen]
	}
	return DLQSpike, s
}

// Evaluate judges every rule at the given clock, in a stable order.
func (e *Engine) Evaluate(now time.Time) []Result {
	e.pruneBuckets(now)
	var out []Result
	out = append(out, e.spikes(now)...)
	out = append(out, e.windowRules(now)...)
	if r, ok := e.stall(now); ok {
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// pruneWindows keeps enough windows behind the newest for a settled window
// and its baseline, measured from the data (not the clock) so a stalled
// pipeline keeps its history.
func (e *Engine) pruneWindows() {
	keep := int64(e.cfg.BaselineWindows+e.cfg.RevenueDropWindows+3)*e.windowMs + e.cfg.settle(time.Duration(e.windowMs)*time.Millisecond).Milliseconds()
	for s, w := range e.windows {
		if w.end < e.maxEnd-keep {
			delete(e.windows, s)
		}
	}
}

// pruneBuckets forgets dead letters older than the lookback, so that the
// state never holds more than a restarted dispatcher re-reads.
func (e *Engine) pruneBuckets(now time.Time) {
	oldest := floorDiv(now.Add(-e.cfg.Lookback).UnixMilli(), e.cfg.DLQBucket.Milliseconds())
	dropped := false
	for k := range e.buckets {
		if k < oldest {
			delete(e.buckets, k)
			dropped = true
		}
	}
	if !dropped {
		return
	}
	for c, k := range e.seen {
		if k < oldest {
			delete(e.seen, c)
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
