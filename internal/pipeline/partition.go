// Package pipeline applies the whole of contract §5 to the messages of one
// source partition: parse and validate (outcomes 1-5), then the window engine
// (6-8). The offline command and the Kafka processor both drive it, so both
// make exactly the same decisions.
package pipeline

import (
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/window"
)

// Message is one raw message as the pipeline needs it.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// RefMs is the record timestamp: the Kafka timestamp, or offline the
	// run's --now. future_event compares event_time with it, and a counted
	// event moves the watermark by at most it (docs/semantics.md).
	RefMs       int64
	ReplayCount int
	// Headers are the record's own headers; a dead letter keeps them but
	// its dlq.* ones (deadletter.OwnHeaders).
	Headers []deadletter.Header
}

// Outcome is the single outcome of a message: "counted", "duplicate" or a
// dead-letter reason.
type Outcome string

// The non-dead-letter outcomes.
const (
	Counted   Outcome = "counted"
	Duplicate Outcome = "duplicate"
)

// Partition processes one partition's messages in log order.
type Partition struct {
	Engine *window.Engine
	Limits event.Limits
	Now    func() time.Time // failed_at of dead letters
	// Observer is told every outcome, emission and flush; nil means none.
	Observer Observer

	ev       event.Event
	sink     window.Emit // the caller's emit during Process or Flush
	observed window.Emit // p.observe, bound once
	emitted  int         // emissions since the last reset, for OnFlush
}

// NewPartition returns a processor with a fresh engine.
func NewPartition(cfg window.Config, lim event.Limits, partition int32) (*Partition, error) {
	eng, err := window.New(cfg, partition)
	if err != nil {
		return nil, err
	}
	return &Partition{Engine: eng, Limits: lim, Now: time.Now}, nil
}

// Process decides the outcome of m, emitting aggregates through emit and
// the dead letter, if any, through dead.
func (p *Partition) Process(m *Message, emit window.Emit, dead func(*deadletter.Letter)) Outcome {
	o := p.process(m, p.wrap(emit), dead)
	if p.Observer != nil {
		p.Observer.OnMessage(m, o)
	}
	return o
}

func (p *Partition) process(m *Message, emit window.Emit, dead func(*deadletter.Letter)) Outcome {
	rej := event.Parse(m.Value, m.RefMs, p.Limits, &p.ev)
	if rej == nil {
		switch p.Engine.Apply(&p.ev, window.Source{Offset: m.Offset, TimestampMs: m.RefMs, Replay: m.ReplayCount > 0}, emit) {
		case window.Counted:
			return Counted
		case window.Duplicate:
			return Duplicate
		}
		rej = p.lateRejection(m.ReplayCount > 0)
	} else {
		// Coalescing ranges are counted in offsets, whatever the records hold.
		p.Engine.Skip(m.Offset, emit)
	}
	dead(&deadletter.Letter{
		Reason: rej.Reason, Error: rej.Detail,
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		FailedAt: p.Now().UTC(), EventTimeMs: rej.TimeMs, HasEventTime: rej.HasTime,
		ReplayCount: m.ReplayCount, Key: m.Key, Value: m.Value, RawHeaders: deadletter.OwnHeaders(m.Headers),
	})
	return Outcome(rej.Reason)
}

// Flush publishes what is not published yet — the changes of the current
// coalescing range, then the windows the watermark has not passed (end of
// input or graceful shutdown; see window.Engine.Flush) — and reports it.
func (p *Partition) Flush(emit window.Emit) {
	p.emitted = 0
	p.Engine.Flush(p.wrap(emit))
	if p.Observer != nil {
		p.Observer.OnFlush(p.Engine.Partition(), p.emitted)
	}
}

// wrap routes the engine's emissions through the observer. The bound method
// value is made once, so wrapping costs no allocation per message.
func (p *Partition) wrap(emit window.Emit) window.Emit {
	if p.Observer == nil {
		return emit
	}
	if p.observed == nil {
		p.observed = p.observe
	}
	p.sink = emit
	return p.observed
}

func (p *Partition) observe(r *aggregate.View) {
	p.emitted++
	p.Observer.OnEmit(p.Engine.Partition(), emitKind(r.Revision))
	p.sink(r)
}

func (p *Partition) lateRejection(replay bool) *event.Rejection {
	cfg := p.Engine.Config()
	end := cfg.WindowStart(p.ev.TimeMs) + cfg.SizeMs
	wm, _ := p.Engine.Watermark()
	// An original late event is past the allowed lateness only: a replay
	// may still heal it within the replay retention, so its window is closed
	// to new events, not for good; a replay past the retention is.
	closed, limit := "closed to new events", "the allowed lateness of "+ms(cfg.AllowedLatenessMs)
	if replay {
		closed = "closed for good"
		limit += " and the replay retention of " + ms(cfg.ReplayRetentionMs)
	}
	return &event.Rejection{Reason: event.LateEvent, TimeMs: p.ev.TimeMs, HasTime: true,
		Detail: "event_time " + event.FormatMillis(p.ev.TimeMs) + " belongs to the window ending " +
			event.FormatMillis(end) + ", " + closed + ": watermark " + event.FormatMillis(wm) +
			" is past the window end plus " + limit}
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }
