// Package window is the event-time tumbling-window engine of one source
// partition (contract §5 outcomes 6-8, §6, §7). It is pure: no clocks, no I/O.
// Its output is a function of the sequence of events it is given, which is
// what lets the Kafka processor restore it from a snapshot and replay.
package window

import (
	"errors"
	"fmt"
	"slices"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

// Config holds the window settings, in milliseconds.
type Config struct {
	SizeMs            int64 `json:"size_ms"`
	OutOfOrdernessMs  int64 `json:"out_of_orderness_ms"`
	AllowedLatenessMs int64 `json:"allowed_lateness_ms"`
	// ReplayRetentionMs keeps windows this much longer than the allowed
	// lateness so that replayed dead letters (contract G4) can still upsert
	// them. Ordinary events never see it: for them lateness is unchanged.
	ReplayRetentionMs int64 `json:"replay_retention_ms"`
}

// DefaultConfig is 1-minute windows, 5 s out-of-orderness, 2 min lateness.
func DefaultConfig() Config {
	return Config{SizeMs: 60_000, OutOfOrdernessMs: 5_000, AllowedLatenessMs: 120_000, ReplayRetentionMs: 900_000}
}

// Validate says what to fix in a bad configuration.
func (c Config) Validate() error {
	var errs []error
	if c.SizeMs <= 0 {
		errs = append(errs, fmt.Errorf("window size must be positive, got %dms", c.SizeMs))
	}
	if c.OutOfOrdernessMs < 0 {
		errs = append(errs, fmt.Errorf("out-of-orderness must not be negative, got %dms", c.OutOfOrdernessMs))
	}
	if c.AllowedLatenessMs < 0 {
		errs = append(errs, fmt.Errorf("allowed lateness must not be negative, got %dms", c.AllowedLatenessMs))
	}
	if c.ReplayRetentionMs < 0 {
		errs = append(errs, fmt.Errorf("replay retention must not be negative, got %dms", c.ReplayRetentionMs))
	}
	return errors.Join(errs...)
}

// Outcome is what Apply did with an event.
type Outcome uint8

// Outcomes of a valid event (contract §5, 6-8).
const (
	Counted Outcome = iota + 1
	Duplicate
	Late
)

func (o Outcome) String() string {
	switch o {
	case Counted:
		return "counted"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late_event"
	}
	return "unknown"
}

// Source is what the engine needs of the record that carried an event.
type Source struct {
	// TimestampMs is the record timestamp: the Kafka timestamp, or offline
	// the run's --now. A counted event moves the watermark only as far as
	// min(event_time, TimestampMs), so one device with a clock running ahead
	// (within the future bound) cannot make the on-time events after it late.
	TimestampMs int64
	// Replay marks an event re-injected from the dead-letter queue: it may
	// upsert a window kept for replay, and as a duplicate it changes nothing.
	Replay bool
}

// Emit receives each emission. The record is freshly built and owned by the
// receiver.
type Emit func(*aggregate.Record)

// Engine holds one partition's state.
type Engine struct {
	cfg       Config
	partition int32
	hasMax    bool
	maxTime   int64 // highest min(event_time, record timestamp) among counted events
	windows   map[int64]*win
	pending   []int64 // starts of windows the watermark has not passed yet, ascending
	retained  []int64 // starts of fired windows still accepting late or replayed events, ascending
}

// New returns an empty engine for one source partition.
func New(cfg Config, partition int32) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, partition: partition, windows: make(map[int64]*win)}, nil
}

// Partition is the source partition this engine aggregates.
func (e *Engine) Partition() int32 { return e.partition }

// Config returns the engine's window settings.
func (e *Engine) Config() Config { return e.cfg }

// Watermark returns W and false while it is still −∞.
func (e *Engine) Watermark() (int64, bool) {
	return e.maxTime - e.cfg.OutOfOrdernessMs, e.hasMax
}

// OpenWindows is the number of windows held in memory.
func (e *Engine) OpenWindows() int { return len(e.windows) }

// WindowStart is floor(t/size)*size, a true floor also before 1970.
func (c Config) WindowStart(t int64) int64 {
	q := t / c.SizeMs
	if t%c.SizeMs != 0 && t < 0 {
		q--
	}
	return q * c.SizeMs
}

// IsLate reports whether an event at time t is too late for its window now.
// A replayed dead letter may still reach windows kept for replay.
func (e *Engine) IsLate(t int64, replay bool) bool {
	end := e.cfg.WindowStart(t) + e.cfg.SizeMs
	limit := e.cfg.AllowedLatenessMs
	if replay {
		limit += e.cfg.ReplayRetentionMs
	}
	return e.hasMax && e.maxTime-e.cfg.OutOfOrdernessMs >= end+limit
}

// Apply runs outcomes 6-8 for a validated event and emits every record the
// event causes, in order: the updated window if the watermark had already
// passed it (fired), then every window the advanced watermark closes,
// oldest first. A replayed duplicate changes nothing at all (replaying the
// same dead letters twice is a no-op).
func (e *Engine) Apply(ev *event.Event, src Source, emit Emit) Outcome {
	replay := src.Replay
	if e.IsLate(ev.TimeMs, replay) {
		return Late
	}
	start := e.cfg.WindowStart(ev.TimeMs)
	w := e.windows[start]
	if w == nil {
		w = newWin(start)
		e.windows[start] = w
		e.pending = insertSorted(e.pending, start)
	}
	if _, dup := w.ids[ev.ID]; dup {
		if replay {
			return Duplicate
		}
		// The record changed (its duplicates counter), so a fired window is
		// emitted again; see docs/semantics.md.
		w.duplicates++
		e.changed(w, emit)
		return Duplicate
	}
	w.add(ev)
	if w.fired {
		w.lateAccepted++
	}
	e.changed(w, emit)
	if t := min(ev.TimeMs, src.TimestampMs); !e.hasMax || t > e.maxTime {
		e.hasMax, e.maxTime = true, t
	}
	e.advance(emit)
	return Counted
}

// advance fires windows whose end the watermark has reached and forgets
// windows that can no longer accept late or replayed events.
func (e *Engine) advance(emit Emit) {
	wm := e.maxTime - e.cfg.OutOfOrdernessMs
	n := 0
	for n < len(e.pending) && e.pending[n]+e.cfg.SizeMs <= wm {
		w := e.windows[e.pending[n]]
		w.fired = true
		if w.dirty {
			// Not dirty only when a shutdown flush already published exactly
			// this state: then there is nothing new to say.
			e.publish(w, emit)
		}
		e.retained = insertSorted(e.retained, w.start)
		n++
	}
	if n > 0 {
		e.pending = slices.Delete(e.pending, 0, n)
	}
	n = 0
	horizon := e.cfg.SizeMs + e.cfg.AllowedLatenessMs + e.cfg.ReplayRetentionMs
	for n < len(e.retained) && e.retained[n]+horizon <= wm {
		delete(e.windows, e.retained[n])
		n++
	}
	if n > 0 {
		e.retained = slices.Delete(e.retained, 0, n)
	}
}

// Flush publishes every window the watermark has not passed yet, oldest
// first, as it stands (end of input or shutdown, contract §6). It does not
// pretend the watermark passed them: they stay open, so events arriving after
// a restart are not counted as late, and a second flush without new events
// publishes nothing. Only the revision records that a flush happened.
func (e *Engine) Flush(emit Emit) {
	for _, start := range e.pending {
		if w := e.windows[start]; w.dirty {
			e.publish(w, emit)
		}
	}
}

// changed handles a window whose state just changed: a fired window is
// emitted again at once (an upsert); an open one waits for the watermark.
func (e *Engine) changed(w *win, emit Emit) {
	w.dirty = true
	if w.fired {
		e.publish(w, emit)
	}
}

// publish emits the window's current state as its next revision.
func (e *Engine) publish(w *win, emit Emit) {
	w.revision++
	w.dirty = false
	emit(e.record(w))
}

func insertSorted(s []int64, v int64) []int64 {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}

func (e *Engine) record(w *win) *aggregate.Record {
	r := &aggregate.Record{
		SchemaVersion:   aggregate.SchemaVersion,
		WindowStart:     event.FormatMillis(w.start),
		WindowEnd:       event.FormatMillis(w.start + e.cfg.SizeMs),
		SourcePartition: e.partition,
		Revision:        w.revision,
		Events:          w.events,
		EventsByType:    make(map[string]int64, 4),
		Users:           int64(len(w.users)),
		Sessions:        int64(len(w.sessions)),
		Orders:          w.byType[event.OrderPlaced],
		RevenueMinor:    currencyMap(w.revenue),
		Refunds:         w.byType[event.OrderRefunded],
		RefundedMinor:   currencyMap(w.refunded),
		PaymentFailures: w.byType[event.PaymentFailed],
		Funnel:          make(map[string]int64, 4),
		ProductViews:    make(map[string]int64, len(w.productViews)),
		LateAccepted:    w.lateAccepted,
		Duplicates:      w.duplicates,
	}
	for t, n := range w.byType {
		if n != 0 {
			r.EventsByType[event.Type(t).String()] = n
		}
	}
	var steps [len(funnelBits)]int64
	for _, bits := range w.sessions {
		for i, bit := range funnelBits {
			if bits&bit != 0 {
				steps[i]++
			}
		}
	}
	for i, n := range steps {
		if n != 0 {
			r.Funnel[aggregate.FunnelSteps[i]] = n
		}
	}
	for p, n := range w.productViews {
		r.ProductViews[p] = n
	}
	return r
}

func currencyMap(m map[[3]byte]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for c, v := range m {
		if v != 0 {
			out[string(c[:])] = v
		}
	}
	return out
}
