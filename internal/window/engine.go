// Package window is the event-time tumbling-window engine of one source
// partition (contract §5 outcomes 6-8, §6, §7). It is pure: no clocks, no I/O.
// Its output is a function of the sequence of records it is given, which is
// what lets the Kafka processor restore it from a snapshot and reprocess.
package window

import (
	"math"
	"slices"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

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
	// Offset is the record's offset in its partition. Offsets only grow; gaps
	// are fine. They decide the coalescing ranges (Config.CoalesceOffsets).
	Offset int64
	// TimestampMs is the record timestamp: the Kafka timestamp, or offline
	// the run's --now. A counted event moves the watermark only as far as
	// min(event_time, TimestampMs), so one device with a clock running ahead
	// (within the future bound) cannot make the on-time events after it late.
	TimestampMs int64
	// Replay marks an event re-injected from the dead-letter queue: it may
	// upsert a window kept for replay, and as a duplicate it changes nothing.
	Replay bool
}

// Emit receives each emission. The view is only valid during the call (the
// engine reuses it): encode it (AppendJSON) or copy it (Record) to keep it.
type Emit func(*aggregate.View)

// Engine holds one partition's state.
//
// Emissions: a window is published with revision 1 as soon as the watermark
// passes its end (its first emission, at once). After that, every change
// (an allowed-late event, a duplicate, a replayed dead letter) only marks it
// changed; all changed windows are published together, oldest first, each
// with one new revision, when the current coalescing range of offsets ends:
// at the first record at or past its end, or at Flush.
type Engine struct {
	cfg       Config
	partition int32
	hasMax    bool
	maxTime   int64 // highest min(event_time, record timestamp) among counted events
	windows   map[int64]*win
	pending   []int64 // starts of windows the watermark has not passed yet, ascending
	// retained are the starts of fired windows still held, ascending: they
	// accept late or replayed events, or hold a change not published yet.
	retained []int64
	rangeEnd int64 // first offset of the next coalescing range; MinInt64 before the first record
	changes  int   // fired windows with a change not published yet
	scratch  aggregate.View
}

// New returns an empty engine for one source partition. A zero
// CoalesceOffsets means DefaultCoalesceOffsets.
func New(cfg Config, partition int32) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg.withDefaults(), partition: partition, windows: make(map[int64]*win), rangeEnd: math.MinInt64}, nil
}

// Partition is the source partition this engine aggregates.
func (e *Engine) Partition() int32 { return e.partition }

// Config returns the engine's window settings, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Watermark returns W and false while it is still −∞.
func (e *Engine) Watermark() (int64, bool) {
	return e.maxTime - e.cfg.OutOfOrdernessMs, e.hasMax
}

// OpenWindows is the number of windows held in memory.
func (e *Engine) OpenWindows() int { return len(e.windows) }

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

// Apply runs outcomes 6-8 for a validated event carried by the record src
// and emits what the record causes, in order: first, if src starts a new
// coalescing range, every window changed in the previous one, oldest first;
// then every window the watermark passes, oldest first. A change to a fired
// window waits for the end of the range. A replayed duplicate changes
// nothing at all (replaying the same dead letters twice is a no-op).
func (e *Engine) Apply(ev *event.Event, src Source, emit Emit) Outcome {
	e.Skip(src.Offset, emit)
	if e.IsLate(ev.TimeMs, src.Replay) {
		return Late
	}
	start := e.cfg.WindowStart(ev.TimeMs)
	w := e.windows[start]
	if w == nil {
		w = newWinLike(start, e.windows[start-e.cfg.SizeMs])
		e.windows[start] = w
		e.pending = insertSorted(e.pending, start)
	}
	// One map operation decides and records: inserting an id already held
	// changes nothing, and the map's length tells which it was.
	held := len(w.ids)
	w.ids[ev.ID] = struct{}{}
	if len(w.ids) == held {
		if src.Replay {
			return Duplicate
		}
		// The record changed (its duplicates counter), so a fired window is
		// published again; see docs/semantics.md.
		w.duplicates++
		e.changed(w)
		return Duplicate
	}
	w.add(ev)
	if w.fired {
		w.lateAccepted++
	}
	e.changed(w)
	if t := min(ev.TimeMs, src.TimestampMs); !e.hasMax || t > e.maxTime {
		e.hasMax, e.maxTime = true, t
	}
	// Even when W did not move: the event may have created a window W has
	// already passed, which fires now.
	e.fire(emit)
	return Counted
}

// Skip tells the engine about a record at offset that carries no event for
// it (a dead letter decided before the engine). It still ends the
// coalescing range when it is past it, so the ranges depend on offsets
// alone, never on what the records contained.
func (e *Engine) Skip(offset int64, emit Emit) {
	if offset < e.rangeEnd {
		return
	}
	e.publishChanges(emit)
	n := e.cfg.CoalesceOffsets
	if k := floorDiv(offset, n); k < math.MaxInt64/n-1 {
		e.rangeEnd = (k + 1) * n
	} else {
		e.rangeEnd = math.MaxInt64
	}
}

// Flush publishes, oldest first, every window with something unpublished:
// fired windows changed in the current range, and windows the watermark has
// not passed yet (end of input or shutdown, contract §6). It returns how
// many it published. It does not pretend the watermark passed anything: the
// open windows stay open, so events arriving after a restart are not
// counted as late, and a second flush without new events publishes nothing.
// Only the revision records that a flush happened.
func (e *Engine) Flush(emit Emit) int {
	n := e.publishChanges(emit)
	for _, start := range e.pending {
		if w := e.windows[start]; w.dirty {
			e.publish(w, emit)
			n++
		}
	}
	return n
}

// changed notes that a window's state just changed. An open window waits for
// the watermark, a fired one for the end of the coalescing range.
func (e *Engine) changed(w *win) {
	if w.dirty {
		return
	}
	w.dirty = true
	if w.fired {
		e.changes++
	}
}

// publishChanges publishes every fired window changed since its last
// emission, oldest first, then forgets those past the horizon.
func (e *Engine) publishChanges(emit Emit) int {
	if e.changes == 0 {
		return 0
	}
	n := 0
	for _, start := range e.retained {
		if w := e.windows[start]; w.dirty {
			e.publish(w, emit)
			n++
		}
	}
	e.changes = 0
	e.forget()
	return n
}

// fire publishes the windows whose end the watermark has reached (their
// first emission, or the first since a shutdown flush) and forgets windows
// that can no longer accept late or replayed events.
func (e *Engine) fire(emit Emit) {
	wm := e.maxTime - e.cfg.OutOfOrdernessMs
	n := 0
	for n < len(e.pending) && e.pending[n]+e.cfg.SizeMs <= wm {
		w := e.windows[e.pending[n]]
		if w.dirty {
			// Not dirty only when a shutdown flush already published exactly
			// this state: then there is nothing new to say.
			e.publish(w, emit)
		}
		w.fired = true
		e.retained = insertSorted(e.retained, w.start)
		n++
	}
	if n > 0 {
		e.pending = slices.Delete(e.pending, 0, n)
	}
	e.forget()
}

// forget drops the fired windows past the horizon (no event can reach them
// any more), except those holding an unpublished change: the end of the
// range publishes them first.
func (e *Engine) forget() {
	if !e.hasMax {
		return
	}
	wm := e.maxTime - e.cfg.OutOfOrdernessMs
	horizon := e.cfg.SizeMs + e.cfg.AllowedLatenessMs + e.cfg.ReplayRetentionMs
	kept := e.retained[:0]
	i := 0
	for ; i < len(e.retained) && e.retained[i]+horizon <= wm; i++ {
		if w := e.windows[e.retained[i]]; w.dirty {
			kept = append(kept, w.start)
		} else {
			delete(e.windows, w.start)
		}
	}
	if len(kept) < i {
		e.retained = append(kept, e.retained[i:]...)
	}
}

// publish emits the window's current state as its next revision.
func (e *Engine) publish(w *win, emit Emit) {
	w.revision++
	w.dirty = false
	emit(e.view(w))
}

func insertSorted(s []int64, v int64) []int64 {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}
