package dispatcher

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/window"
)

// This file is a virtual-clock streamlab stack with its compose defaults:
// the producer's generator at 200 events/s with its default chaos mix, keyed
// to 3 partitions like the producer, the real pipeline per partition as the
// processor runs it (checkpoints every 5 s, restored after a kill), and the
// records it writes, each stamped with the processing time, fed to the
// dispatcher's processing path as they are written. A dispatcher restart
// rebuilds its state from these "topics" with the same start offsets Run
// uses. Thirty minutes take about a second.

const (
	simPartitions = 3
	simRate       = 200                   // producer events per second (compose default)
	simCost       = 50 * time.Microsecond // processing time per record: 20k/s when catching up
	simCheckpoint = 5 * time.Second       // the processor's default
	simEvalEvery  = 5 * time.Second       // the dispatcher's default
)

type rawRecord struct {
	partition int
	offset    int64
	msg       gen.Message
}

// source is a generator with its next message peeked.
type simSource struct {
	g    *gen.Generator
	next gen.Message
	left int // messages still to come; < 0 for endless
}

func newSource(t *testing.T, cfg gen.Config, count int) *simSource {
	t.Helper()
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &simSource{g: g, left: count}
	s.advance()
	return s
}

func (s *simSource) advance() {
	m := s.g.Next()
	m.Key, m.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
	s.next = m
}

// simStack is the producer, the processor and the topics.
type simStack struct {
	t       *testing.T
	wcfg    window.Config
	sources []*simSource
	offsets []int64
	bal     kafka.Murmur2Balancer

	parts     []*pipeline.Partition
	snapshots [][]byte
	queue     []rawRecord // arrived, not processed
	sinceCP   []rawRecord // processed since the last checkpoint
	lastCP    time.Time
	// snapshotFrom enables the engine snapshots of the checkpoints from
	// that time on (they cost most of a timeline; only a kill needs them).
	snapshotFrom time.Time
	busyUntil    time.Time
	down         bool

	// The topics the processor writes: aggregates by source partition, and
	// dead letters.
	agg [][]kafka.Message
	dlq []kafka.Message
	// written receives every record as it is written (the dispatcher).
	written func(kafka.Message)
}

var simStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newSimStack(t *testing.T) *simStack {
	return newScaledStack(t, window.DefaultConfig(), simRate)
}

// newScaledStack is the stack with other windows and another rate (the
// e2e suite runs the defaults faster).
func newScaledStack(t *testing.T, w window.Config, rate float64) *simStack {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Start = simStart
	cfg.EventsPerSecond = rate
	cfg.Window = time.Duration(w.SizeMs) * time.Millisecond
	cfg.OutOfOrderness = time.Duration(w.OutOfOrdernessMs) * time.Millisecond
	cfg.AllowedLateness = time.Duration(w.AllowedLatenessMs) * time.Millisecond
	s := &simStack{t: t, wcfg: w, sources: []*simSource{newSource(t, cfg, -1)}, offsets: make([]int64, simPartitions),
		agg: make([][]kafka.Message, simPartitions), lastCP: simStart, written: func(kafka.Message) {}}
	for p := range simPartitions {
		pp, err := pipeline.NewPartition(w, event.DefaultLimits(), int32(p))
		if err != nil {
			t.Fatal(err)
		}
		s.parts = append(s.parts, pp)
	}
	return s
}

// chaos writes a burst like `streamlab chaos <kind> --count n` at `at`.
func (s *simStack) chaos(kind gen.Kind, n int, at time.Time) {
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Start, cfg.EventsPerSecond = uint64(at.Unix()), at, float64(n)
	cfg.Window = time.Duration(s.wcfg.SizeMs) * time.Millisecond
	cfg.OutOfOrderness = time.Duration(s.wcfg.OutOfOrdernessMs) * time.Millisecond
	cfg.AllowedLateness = time.Duration(s.wcfg.AllowedLatenessMs) * time.Millisecond
	cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate, cfg.Malformed, cfg.Oversized, cfg.Future = 0, 0, 0, 0, 0, 0, 0
	switch kind {
	case gen.Malformed:
		cfg.Malformed = 1
	case gen.TooLate:
		cfg.TooLate = 1
	default:
		s.t.Fatalf("no chaos of kind %v here", kind)
	}
	s.sources = append(s.sources, newSource(s.t, cfg, n))
}

// run advances the stack to `until`: messages arrive on the raw topic in
// timestamp order and the processor works through them.
func (s *simStack) run(until time.Time) {
	for {
		var src *simSource
		for _, c := range s.sources {
			if c.left != 0 && (src == nil || c.next.ProducedAt.Before(src.next.ProducedAt)) {
				src = c
			}
		}
		if src == nil || src.next.ProducedAt.After(until) {
			break
		}
		m := src.next
		p := s.bal.Balance(kafka.Message{Key: m.Key}, 0, 1, 2)
		s.queue = append(s.queue, rawRecord{partition: p, offset: s.offsets[p], msg: m})
		s.offsets[p]++
		if src.left > 0 {
			src.left--
		}
		src.advance()
		s.process(m.ProducedAt)
	}
	s.process(until)
}

// process lets the processor work until t.
func (s *simStack) process(t time.Time) {
	for !s.down && len(s.queue) > 0 {
		r := s.queue[0]
		at := r.msg.ProducedAt
		if s.busyUntil.After(at) {
			at = s.busyUntil
		}
		if at.After(t) {
			return
		}
		s.queue = s.queue[1:]
		s.busyUntil = at.Add(simCost)
		s.handle(r, at)
		s.sinceCP = append(s.sinceCP, r)
		if at.Sub(s.lastCP) >= simCheckpoint {
			s.checkpoint(at)
		}
	}
}

func (s *simStack) handle(r rawRecord, at time.Time) {
	pp := s.parts[r.partition]
	pp.Now = func() time.Time { return at }
	msg := pipeline.Message{Topic: "events.raw.v1", Partition: int32(r.partition), Offset: r.offset,
		Key: r.msg.Key, Value: r.msg.Value, RefMs: r.msg.ProducedAt.UnixMilli()}
	pp.Process(&msg, func(a *aggregate.View) {
		m := kafka.Message{Topic: DefaultConfig().AggregatesTopic, Partition: r.partition, Offset: int64(len(s.agg[r.partition])),
			Key: a.AppendKey(nil), Value: a.AppendJSON(nil), Time: at}
		s.agg[r.partition] = append(s.agg[r.partition], m)
		s.written(m)
	}, func(l *deadletter.Letter) {
		m := l.Message()
		m.Topic, m.Time = DefaultConfig().DLQTopic, at
		s.dlq = append(s.dlq, m)
		s.written(m)
	})
}

func (s *simStack) checkpoint(at time.Time) {
	s.sinceCP, s.lastCP = s.sinceCP[:0], at
	if s.snapshotFrom.IsZero() || at.Before(s.snapshotFrom) {
		return
	}
	s.snapshots = s.snapshots[:0]
	for _, pp := range s.parts {
		b, err := pp.Engine.Snapshot()
		if err != nil {
			s.t.Fatal(err)
		}
		s.snapshots = append(s.snapshots, b)
	}
}

// kill is a SIGKILL: the work since the last checkpoint is lost and will
// be done again (its aggregates and dead letters written twice).
func (s *simStack) kill() {
	if len(s.snapshots) != len(s.parts) {
		s.t.Fatal("kill without a checkpoint: set snapshotFrom before the kill")
	}
	s.down, s.snapshotFrom = true, time.Time{}
	for p := range s.parts {
		eng, err := window.Restore(s.wcfg, int32(p), s.snapshots[p])
		if err != nil {
			s.t.Fatal(err)
		}
		s.parts[p].Engine = eng
	}
	s.queue = append(slices.Clone(s.sinceCP), s.queue...)
	s.sinceCP = s.sinceCP[:0]
}

func (s *simStack) restart(at time.Time) {
	s.down, s.busyUntil, s.lastCP = false, at, at
}

// simDispatcher is the dispatcher's processing path on the stack's topics,
// with alerts.v1 in memory.
type simDispatcher struct {
	t     *testing.T
	cfg   Config
	core  *core
	reg   *prometheus.Registry
	mu    sync.Mutex
	alert []incident.Alert // alerts.v1
}

func simConfig() Config {
	cfg := DefaultConfig()
	cfg.Logger = quietLogger()
	return cfg
}

// start is a dispatcher process starting at now: incident state from the
// alerts topic, rules state from the topics as Run plans its readers, one
// evaluation once caught up.
func (d *simDispatcher) start(s *simStack, now time.Time) []incident.Alert {
	d.t.Helper()
	d.reg = prometheus.NewRegistry()
	m, err := newMetrics(d.reg, &logOnly{})
	if err != nil {
		d.t.Fatal(err)
	}
	engine, err := rules.New(d.cfg.Rules)
	if err != nil {
		d.t.Fatal(err)
	}
	tracker, err := incident.NewTracker(incident.Config{Cooldown: d.cfg.Cooldown, StaleAfter: d.cfg.StaleAfter})
	if err != nil {
		d.t.Fatal(err)
	}
	var history []*incident.Alert
	for i := range d.alert {
		b, _ := d.alert[i].Marshal()
		a, err := incident.Unmarshal(b)
		if err != nil {
			d.t.Fatal(err)
		}
		history = append(history, a)
	}
	tracker.Restore(history)
	d.core = newCore(d.cfg, d.cfg.Logger, engine, tracker, func(_ context.Context, as []incident.Alert) error {
		d.mu.Lock()
		d.alert = append(d.alert, as...)
		d.mu.Unlock()
		return nil
	}, &logOnly{}, m)
	from := now.Add(-d.cfg.Rules.Lookback)
	for _, part := range s.agg {
		for _, m := range part[startOffset(simSpan(part, from), true):] {
			d.core.handle(m)
		}
	}
	for _, m := range s.dlq[startOffset(simSpan(s.dlq, from), false):] {
		d.core.handle(m)
	}
	s.written = d.core.handle
	return d.evaluate(now)
}

// simSpan is what kafkaio.ListSpans reports for one in-memory partition.
func simSpan(msgs []kafka.Message, at time.Time) kafkaio.Span {
	i, _ := slices.BinarySearchFunc(msgs, at, func(m kafka.Message, t time.Time) int { return m.Time.Compare(t) })
	return kafkaio.Span{First: 0, End: int64(len(msgs)), At: int64(i)}
}

func (d *simDispatcher) evaluate(now time.Time) []incident.Alert {
	d.mu.Lock()
	before := len(d.alert)
	d.mu.Unlock()
	d.core.evaluate(context.Background(), now)
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.alert[before:])
}

// timeline runs the stack and the dispatcher from simStart to the end,
// evaluating every simEvalEvery, calling at(now) before each evaluation
// (to inject chaos, kill or restart things), and returns every alert with
// the minute it was raised in.
type raised struct {
	at time.Duration
	a  incident.Alert
}

func timeline(t *testing.T, s *simStack, d *simDispatcher, end time.Duration, at func(now time.Time)) []raised {
	return timelineEvery(t, s, d, end, simEvalEvery, at)
}

func timelineEvery(t *testing.T, s *simStack, d *simDispatcher, end, every time.Duration, at func(now time.Time)) []raised {
	t.Helper()
	var out []raised
	record := func(now time.Time, as []incident.Alert) {
		for _, a := range as {
			out = append(out, raised{now.Sub(simStart), a})
			t.Logf("+%s %s %s: %s | value %s | baseline %s | threshold %s", now.Sub(simStart), a.Status, a.IncidentKey(),
				a.Summary, a.ValueText, a.BaselineText, a.ThresholdText)
		}
	}
	record(simStart, d.start(s, simStart))
	for now := simStart.Add(every); now.Sub(simStart) <= end; now = now.Add(every) {
		s.run(now)
		if at != nil {
			at(now)
		}
		record(now, d.evaluate(now))
	}
	return out
}

func alertKeys(rs []raised) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, string(r.a.Status)+" "+r.a.IncidentKey())
	}
	return out
}

// verdicts reads the dispatcher's verdict counter of one rule.
func (d *simDispatcher) verdicts(rule, verdict string) float64 {
	return metricValue(d.t, d.reg, MetricVerdicts, map[string]string{"rule": rule, "verdict": verdict})
}
