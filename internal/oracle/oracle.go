// Package oracle is a deliberately naive second implementation of the
// streamlab processing semantics (contract §4–§7, §9). Tests run it next to the
// real engine and compare results, so it favours obviousness over speed: each
// window keeps the plain list of its counted events, every emitted record is
// recomputed from that list, and the watermark is recomputed from all counted
// events after every message. It imports no other streamlab package on
// purpose: sharing code with the engine would let a shared bug pass unseen.
package oracle

import (
	"fmt"
	"sort"
	"time"
)

// Config holds the window and validation parameters of one run.
type Config struct {
	WindowMs          int64 // tumbling window size; must be > 0
	OutOfOrdernessMs  int64 // subtracted from the highest min(event_time, record timestamp) of counted events to get the watermark
	AllowedLatenessMs int64 // how long after window end an event is still applied
	MaxEventBytes     int   // values longer than this are "oversized"
	MaxFutureMs       int64 // allowed skew of event_time ahead of the message timestamp
	ReplayRetentionMs int64 // extra lateness granted to replayed dead letters
	// CoalesceOffsets is N: offsets [k·N, (k+1)·N) form one coalescing
	// range, and a window changed after its first emission is emitted again
	// once, when a message of a later range arrives (or at end of input).
	// 0 means the contract's default, 1000.
	CoalesceOffsets int64
}

// DefaultConfig returns the defaults of the contract: 1 min windows, 5 s
// out-of-orderness, 2 min allowed lateness, 64 KiB events, 10 min future skew.
func DefaultConfig() Config {
	return Config{
		WindowMs:          60000,
		OutOfOrdernessMs:  5000,
		AllowedLatenessMs: 120000,
		MaxEventBytes:     65536,
		MaxFutureMs:       600000,
		CoalesceOffsets:   1000,
	}
}

// Message is one raw record of a single partition's log.
type Message struct {
	Offset      int64
	Value       []byte
	TimestampMs int64 // the record timestamp (Unix ms): the Kafka timestamp; offline mode passes --now
	Replay      bool  // re-injected from the dead-letter queue (dlq replay)
}

// Dead-letter reason codes (contract §5).
const (
	ReasonOversized         = "oversized"
	ReasonInvalidJSON       = "invalid_json"
	ReasonUnsupportedSchema = "unsupported_schema"
	ReasonSchemaViolation   = "schema_violation"
	ReasonFutureEvent       = "future_event"
	ReasonLateEvent         = "late_event"
)

// DeadLetter is the oracle's view of one dead-lettered message.
type DeadLetter struct {
	Offset    int64
	Reason    string // one of the Reason* constants
	EventTime string // RFC 3339 UTC, exactly 3 fractional digits and "Z"; "" when not known
}

// Result is everything a run over one partition's log produces.
type Result struct {
	Emissions   [][]byte          // every aggregate emission (§7 JSON object) in emission order
	Final       map[string][]byte // window_start string -> the last emission for that window
	DeadLetters []DeadLetter      // in offset (log) order
	Counted     int
	Duplicates  int
}

// timeLayout is the one format for every timestamp the pipeline writes.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(timeLayout)
}

// window is the full state of one tumbling window: the counted events
// themselves, not running aggregates, so a record is always rebuilt from the
// ground truth.
type window struct {
	start        int64
	events       []event
	duplicates   int64
	lateAccepted int64
	revision     int64 // 0 while never emitted
	changed      bool  // changed since it was last emitted: due at the end of the range
}

// windowStart is floor(t/size)*size with a true floor, so times before 1970
// land in the window that contains them rather than the one after.
func windowStart(t, size int64) int64 {
	q := t / size
	if t%size != 0 && t < 0 {
		q--
	}
	return q * size
}

// Run processes msgs, given in log order, as the log of one source
// partition, and flushes every never-emitted window at the end of input.
func Run(cfg Config, partition int32, msgs []Message) Result {
	if cfg.WindowMs <= 0 {
		panic(fmt.Sprintf("oracle: WindowMs must be > 0, got %d", cfg.WindowMs))
	}
	res := Result{Final: map[string][]byte{}}
	windows := map[int64]*window{}
	// For every counted event, the time it vouches for: its event_time, but
	// never later than the moment the record carrying it was written (the
	// skew cap of docs/semantics.md).
	var vouched []int64

	// watermark recomputes W from scratch; ok is false while W is −∞.
	watermark := func() (w int64, ok bool) {
		for i, t := range vouched {
			if i == 0 || t > w {
				w = t
			}
		}
		if len(vouched) == 0 {
			return 0, false
		}
		return w - cfg.OutOfOrdernessMs, true
	}
	emit := func(win *window) {
		win.revision++
		win.changed = false
		rec := buildRecord(win, cfg.WindowMs, partition)
		res.Emissions = append(res.Emissions, rec)
		res.Final[formatMs(win.start)] = rec
	}
	deadLetter := func(m Message, reason string, eventTime string) {
		res.DeadLetters = append(res.DeadLetters, DeadLetter{Offset: m.Offset, Reason: reason, EventTime: eventTime})
	}

	anyChanged := false // some window has changed since its last emission
	rangeLen := cfg.CoalesceOffsets
	if rangeLen == 0 {
		rangeLen = 1000
	}
	// rangeOf numbers the coalescing range an offset belongs to (a floor, so
	// negative offsets would work too).
	rangeOf := func(offset int64) int64 {
		r := offset / rangeLen
		if offset%rangeLen != 0 && offset < 0 {
			r--
		}
		return r
	}
	// emitChanged emits every window changed since its last emission,
	// oldest first.
	emitChanged := func() {
		if !anyChanged {
			return // nothing to sort through
		}
		anyChanged = false
		for _, win := range sortedWindows(windows) {
			if win.changed {
				emit(win)
			}
		}
	}

	// W as of the last message, recomputed from the counted list after each.
	w, wKnown := watermark()
	var lastRange int64
	for i, m := range msgs {
		if r := rangeOf(m.Offset); i == 0 || r != lastRange {
			emitChanged()
			lastRange = r
		}
		ev, reason, eventTimeMs, timeKnown := classify(m.Value, cfg.MaxEventBytes)
		knownTime := ""
		if timeKnown {
			knownTime = formatMs(eventTimeMs)
		}
		switch {
		case reason != "":
			deadLetter(m, reason, knownTime)
		case ev.timeMs > m.TimestampMs+cfg.MaxFutureMs:
			deadLetter(m, ReasonFutureEvent, knownTime)
		default:
			start := windowStart(ev.timeMs, cfg.WindowMs)
			end := start + cfg.WindowMs
			limit := cfg.AllowedLatenessMs
			if m.Replay {
				// A replayed dead letter may still reach a window kept for replay.
				limit += cfg.ReplayRetentionMs
			}
			if wKnown && w >= end+limit {
				deadLetter(m, ReasonLateEvent, knownTime)
				break
			}
			win := windows[start]
			if win != nil && win.hasEventID(ev.id) {
				res.Duplicates++
				if m.Replay {
					break // replaying a counted event changes nothing
				}
				win.duplicates++
				if win.revision > 0 {
					win.changed, anyChanged = true, true
				}
				break
			}
			res.Counted++
			if m.TimestampMs < ev.timeMs {
				vouched = append(vouched, m.TimestampMs)
			} else {
				vouched = append(vouched, ev.timeMs)
			}
			if win == nil {
				win = &window{start: start}
				windows[start] = win
			}
			win.events = append(win.events, ev)
			if win.revision > 0 {
				win.lateAccepted++
				win.changed, anyChanged = true, true
			}
		}

		// Fire every window the watermark has passed, oldest first.
		w, wKnown = watermark()
		due := func(win *window) bool { return win.revision == 0 && win.start+cfg.WindowMs <= w }
		anyDue := false // checked first: sorting every window per message is slow
		for _, win := range windows {
			anyDue = anyDue || wKnown && due(win)
		}
		if anyDue {
			for _, win := range sortedWindows(windows) {
				if due(win) {
					emit(win)
				}
			}
		}
	}

	// End of input: emit what never fired and what changed since its last
	// emission, oldest first.
	for _, win := range sortedWindows(windows) {
		if win.revision == 0 || win.changed {
			emit(win)
		}
	}
	return res
}

func (w *window) hasEventID(id string) bool {
	for _, e := range w.events {
		if e.id == id {
			return true
		}
	}
	return false
}

func sortedWindows(m map[int64]*window) []*window {
	out := make([]*window, 0, len(m))
	for _, w := range m {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}
