package demo

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
)

// view is the terminal's model. What the pipeline published comes from
// consumers of its output topics (the same topics Grafana reads through
// ClickHouse): the latest revision of every window and partition, dead
// letters by reason, alerts. What the processor knows but has not published
// (watermarks, outcome counts) is sampled from its metrics on each refresh.
type view struct {
	mu         sync.Mutex
	window     window.Config
	partitions int
	topics     topic.Names
	started    time.Time
	now        func() time.Time // stamps chaos acknowledgements; fixed in tests
	keys       bool
	redraw     chan struct{} // a chaos acknowledgement asks for a frame at once

	windows   map[string]*aggregate.Record // window_start/partition -> latest revision
	emissions int64
	upserts   int64
	dlq       map[string]int64    // distinct dead letters by reason
	dlqSeen   map[string]struct{} // source coordinates: the topic is at-least-once
	alerts    []incident.Alert
	chaos     []*chaosLine

	sample     sample
	watermarks map[int32]int64 // last known: a stopped worker's gauge disappears
	rate       float64
	rateFrom   sample
	flushed    bool // the processor stopped: its shutdown flush is published
}

// sample is what the refresh reads from outside the topics, in this order:
// the processor's outcome counters first, then the raw topic's end offsets,
// so that decided <= produced holds for the pair (a message is decided only
// after it is on the topic).
type sample struct {
	at         time.Time
	outcomes   map[string]int64 // processor: counted, duplicate, or a dead-letter reason
	watermarks map[int32]int64  // processor: per source partition, Unix ms
	produced   int64            // end offsets of the raw topic, summed
	err        error            // the end offsets could not be read
	verdicts   int64            // dispatcher: verdicts of the dead-letter spike rule so far
}

func (s sample) decided() int64 {
	var n int64
	for _, c := range s.outcomes {
		n += c
	}
	return n
}

// chaosLine acknowledges one burst (or says why a typed line was ignored).
type chaosLine struct {
	at      time.Time
	source  string // "key m", "at 6s"
	burst   Burst
	done    bool
	written int64
	err     error
	refused string // why the burst was not queued
	note    string // set instead of a burst
}

func newView(w window.Config, partitions int, topics topic.Names, keys bool, now time.Time) *view {
	return &view{window: w, partitions: partitions, topics: topics, keys: keys, started: now, now: time.Now,
		redraw:  make(chan struct{}, 1),
		windows: map[string]*aggregate.Record{}, dlq: map[string]int64{}, dlqSeen: map[string]struct{}{},
		watermarks: map[int32]int64{}}
}

func (v *view) aggregate(r *aggregate.Record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.emissions++
	if r.Revision > 1 {
		v.upserts++
	}
	if old := v.windows[r.Key()]; old == nil || r.Revision >= old.Revision {
		// The view keeps every window of the run; the breakdowns it never
		// shows would be most of that memory.
		r.EventsByType, r.Funnel, r.ProductViews, r.RefundedMinor = nil, nil, nil, nil
		v.windows[r.Key()] = r
	}
}

func (v *view) deadLetter(l *deadletter.Letter) {
	coords := fmt.Sprintf("%s/%d/%d", l.Topic, l.Partition, l.Offset)
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.dlqSeen[coords]; ok {
		return
	}
	v.dlqSeen[coords] = struct{}{}
	v.dlq[string(l.Reason)]++
}

func (v *view) alert(a *incident.Alert) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.alerts = append(v.alerts, *a)
}

func (v *view) note(s string) { v.addChaos(&chaosLine{at: v.now(), note: s}) }

func (v *view) addChaos(l *chaosLine) {
	v.mu.Lock()
	v.chaos = append(v.chaos, l)
	v.mu.Unlock()
	v.askRedraw()
}

func (v *view) chaosDone(l *chaosLine, written int64, err error) {
	v.mu.Lock()
	l.done, l.written, l.err = true, written, err
	v.mu.Unlock()
	v.askRedraw()
}

func (v *view) askRedraw() {
	select {
	case v.redraw <- struct{}{}:
	default:
	}
}

// setSample records a refresh's reading of the processor and the raw topic.
func (v *view) setSample(s sample) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for p, w := range s.watermarks {
		v.watermarks[p] = w
	}
	if s.err != nil {
		s.produced = v.sample.produced
	}
	if prev := v.rateFrom; !prev.at.IsZero() && s.at.Sub(prev.at) >= time.Second {
		v.rate = float64(s.decided()-prev.decided()) / s.at.Sub(prev.at).Seconds()
		v.rateFrom = s
	} else if prev.at.IsZero() {
		v.rateFrom = s
	}
	v.sample = s
}

func (v *view) setFlushed() {
	v.mu.Lock()
	v.flushed = true
	v.mu.Unlock()
}

// maxRows, maxChaos and maxAlerts keep a frame on one screen.
const (
	maxRows   = 6
	maxChaos  = 3
	maxAlerts = 4
)

// frame copies what one frame shows.
func (v *view) frame(now time.Time) frameData {
	v.mu.Lock()
	defer v.mu.Unlock()
	f := frameData{Now: now, Up: now.Sub(v.started), Rate: v.rate, Window: v.window, Partitions: v.partitions,
		Topics: v.topics, Keys: v.keys}
	for p := range int32(v.partitions) {
		w, ok := v.watermarks[p]
		f.Watermarks = append(f.Watermarks, partitionWatermark{Partition: p, Ms: w, Known: ok})
	}
	if !v.sample.at.IsZero() {
		f.G1 = g1FromSample(v.sample)
	}
	rows := v.rows()
	if len(rows) > maxRows {
		rows = rows[len(rows)-maxRows:]
	}
	f.Rows = rows
	for i := len(rows) - 1; i >= 0 && f.Revenue == nil; i-- {
		if rows[i].Parts == v.partitions {
			f.Revenue = &rows[i]
		}
	}
	for i := len(rows) - 1; i >= 0 && f.Revenue == nil; i-- {
		if rows[i].Parts > 0 {
			f.Revenue = &rows[i]
		}
	}
	f.DeadLetters = reasonCounts(v.dlq)
	for _, l := range tail(v.chaos, maxChaos) {
		f.Chaos = append(f.Chaos, *l)
	}
	f.Alerts = slices.Clone(tail(v.alerts, maxAlerts))
	f.RulesJudging = v.sample.verdicts > 0
	return f
}

func tail[T any](s []T, n int) []T {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func g1FromSample(s sample) g1Line {
	g := g1Line{Known: true, Produced: s.produced}
	if s.err != nil {
		g.Err = s.err.Error()
	}
	for o, n := range s.outcomes {
		switch o {
		case "counted":
			g.Counted += n
		case "duplicate":
			g.Duplicates += n
		default:
			g.DeadLetters += n
		}
	}
	return g
}

// rows sums every window over its partitions' latest revisions, adds the
// open windows the watermarks point at (nothing published yet), and
// decides each window's state from the slowest partition's watermark.
func (v *view) rows() []windowRow {
	by := map[int64]*windowRow{}
	row := func(start int64) *windowRow {
		r := by[start]
		if r == nil {
			r = &windowRow{StartMs: start, EndMs: start + v.window.SizeMs, Revenue: map[string]int64{}}
			by[start] = r
		}
		return r
	}
	for _, rec := range v.windows {
		t, err := time.Parse(time.RFC3339, rec.WindowStart)
		if err != nil {
			continue
		}
		r := row(t.UnixMilli())
		r.Parts++
		r.Events += rec.Events
		r.Users += rec.Users
		r.Orders += rec.Orders
		for c, a := range rec.RevenueMinor {
			r.Revenue[c] = saturatingAdd(r.Revenue[c], a)
		}
		r.MaxRevision = max(r.MaxRevision, rec.Revision)
		r.Late += rec.LateAccepted
		r.Dups += rec.Duplicates
	}
	for _, w := range v.watermarks {
		row(v.window.WindowStart(w))
	}
	out := make([]windowRow, 0, len(by))
	for _, r := range by {
		r.State = v.state(r)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b windowRow) int { return cmp.Compare(a.StartMs, b.StartMs) })
	return out
}

// state judges a window by the slowest partition's watermark: a window is
// complete only when every partition is done with it.
func (v *view) state(r *windowRow) string {
	slowest, known := int64(math.MaxInt64), len(v.watermarks) == v.partitions
	for _, w := range v.watermarks {
		slowest = min(slowest, w)
	}
	switch {
	case known && slowest >= r.EndMs+v.window.AllowedLatenessMs:
		return stateFinal
	case known && slowest >= r.EndMs:
		return stateEmitted
	case v.flushed && r.Parts > 0:
		return stateFlushed
	}
	return stateOpen
}

// Window states, as the slowest partition's watermark W sees the window.
const (
	stateOpen    = "open"    // W < end: still counting; not every partition has emitted it
	stateEmitted = "emitted" // W >= end: every partition emitted it; late events still upsert it
	stateFinal   = "final"   // W >= end + allowed lateness: no more upserts except replays
	stateFlushed = "flushed" // open, and published as it stood by the processor's shutdown flush
)

func saturatingAdd(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}
