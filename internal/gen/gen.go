// Package gen generates a deterministic stream of synthetic shop events:
// clickstream sessions walking a purchase funnel, orders with the odd payment
// failure and refund, and on purpose some chaos (disordered, late, duplicate,
// malformed, oversized and future events) placed relative to the processor's
// window settings so that each kind meets the outcome it is meant to test.
//
// The same Config always yields the byte-identical message sequence, which
// is what lets an offline run, a Kafka run and an independent oracle be
// compared exactly.
package gen

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind is what the generator meant a message to be. The processor decides
// the real outcome; Kind is the intent that tests compare it with.
type Kind uint8

const (
	Normal      Kind = iota // valid, event_time = simulated clock
	Disordered              // valid, event_time up to OutOfOrderness behind the clock: out of order, not late
	AllowedLate             // valid, its window is closed but within the allowed lateness
	TooLate                 // valid, far behind the watermark: a late_event dead letter
	Duplicate               // exact re-send (key and value) of a recent Normal or Disordered message
	Malformed               // deliberately broken; Message.Defect says how
	Oversized               // valid-looking but longer than MaxEventBytes
	Future                  // valid, event_time FutureSkew ahead of the clock
	Skewed                  // valid, event_time ahead of the clock by up to MaxFuture: a device clock running fast
	numKinds
)

var kindNames = [numKinds]string{
	"normal", "disordered", "allowed_late", "too_late",
	"duplicate", "malformed", "oversized", "future", "skewed",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Kinds lists every Kind in order, for callers that print per-kind counts.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Message is one Kafka record to produce (or one line of an offline input
// file). Key and Value share one fresh allocation per message; the caller
// owns them.
type Message struct {
	// Key is the user_id, for malformed messages too.
	Key []byte
	// Value is the raw JSON (or garbage). It never contains '\n', so one
	// message is one line of a file.
	Value []byte
	Kind  Kind
	// Defect names how a Malformed message is broken (see Defects); empty
	// for every other kind.
	Defect string
	// EventTime is the event_time written in Value, truncated to the
	// millisecond; zero when Value carries no readable event_time.
	EventTime time.Time
	// ProducedAt is the simulated clock when the message was generated. Use
	// it as the Kafka record timestamp to make future-event decisions
	// reproducible; a live producer uses its wall clock instead.
	ProducedAt time.Time
}

// Generator produces the message stream. It is not safe for concurrent use.
type Generator struct {
	cfg Config
	rng *rand.Rand
	w   *world
	enc *encoder

	clock    int64   // simulated time of the next message, Unix ns
	now      int64   // simulated time of the message being built
	meanStep float64 // ns

	// thresholds[i] is the cumulative probability of kinds[i] and all
	// kinds before it, in Config.ratios order.
	thresholds []float64
	kinds      []Kind

	window, ooo, allowed int64 // ns
	lateMargin           int64 // ns; see allowedLateTime

	sessions  []session
	busy      []bool // users with a running session
	followUps followUpHeap
	followSeq uint64
	ring      dupRing

	ev      event
	scratch []byte
}

// New returns a generator for cfg, or an error that lists every invalid
// setting.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The second PCG word is a fixed, arbitrary stream selector: the seed
	// alone picks the sequence.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_57a3_1ab0_0001))
	g := &Generator{
		cfg:      cfg,
		rng:      rng,
		w:        newWorld(rng, cfg.Users),
		enc:      newEncoder(),
		clock:    cfg.Start.UnixNano(),
		meanStep: 1e9 / cfg.EventsPerSecond,
		window:   int64(cfg.Window),
		ooo:      int64(cfg.OutOfOrderness),
		allowed:  int64(cfg.AllowedLateness),
		busy:     make([]bool, cfg.Users),
		scratch:  make([]byte, 0, 1024),
	}
	// Keep a safety margin between an allowed-late event and both edges of
	// the allowed range, because a partition's watermark trails the global
	// clock a little; a quarter of the lateness, at most 10 s.
	g.lateMargin = min(max(g.allowed/4, int64(time.Millisecond)), int64(10*time.Second))
	sum := 0.0
	for _, r := range cfg.ratios() {
		if r.value == 0 {
			continue
		}
		sum += r.value
		g.thresholds = append(g.thresholds, sum)
		g.kinds = append(g.kinds, r.kind)
	}
	// About a fifth of the users are in a session at any time (at most
	// 1000 sessions), so that at 200 events/s a session sees an event every
	// few seconds, and many sessions interleave.
	g.sessions = make([]session, min(max(cfg.Users/5, 1), 1000))
	for i := range g.sessions {
		g.startSession(&g.sessions[i])
	}
	return g, nil
}

// Clock returns the simulated time at which the next message will be
// generated (the event time of the next normal event). A live producer can
// pace itself by waiting until its wall clock reaches it.
func (g *Generator) Clock() time.Time {
	return time.Unix(0, g.clock).UTC()
}

// Next generates the next message.
func (g *Generator) Next() Message {
	g.now = g.clock
	// Uniform jitter around the mean gap. Exponential gaps would need
	// math.Log, whose last bit may differ between CPU architectures; what
	// decides the output sticks to exact arithmetic so that a seed gives the
	// same bytes everywhere.
	g.clock += 1 + int64(g.meanStep*(0.5+g.rng.Float64()))

	kind := Normal
	u := g.rng.Float64()
	for i, t := range g.thresholds {
		if u < t {
			kind = g.kinds[i]
			break
		}
	}
	switch kind {
	case Duplicate:
		if m, ok := g.duplicate(); ok {
			return m
		}
		kind = Normal // nothing to duplicate yet
	case Malformed:
		return g.malformed()
	case Oversized:
		return g.oversized()
	}

	ev := &g.ev
	*ev = event{}
	if len(g.followUps) > 0 && g.followUps[0].due <= g.now {
		f := heap.Pop(&g.followUps).(followUp)
		f.fill(g, ev)
	} else {
		s := &g.sessions[g.rng.IntN(len(g.sessions))]
		if g.step(s, ev) {
			g.endSession(s)
		}
	}
	ev.idHi, ev.idLo = newUUID(g.rng.Uint64(), g.rng.Uint64())

	t := g.now
	switch kind {
	case Disordered:
		t = g.disorderedTime()
	case AllowedLate:
		var ok bool
		if t, ok = g.allowedLateTime(); !ok {
			kind, t = Disordered, g.disorderedTime()
		}
	case TooLate:
		// Older than the allowed range by two more windows, and up to five
		// minutes more, like a device flushing an offline buffer: still inside
		// the processor's default replay retention, so `dlq replay` heals it.
		t = g.now - g.ooo - g.allowed - 2*g.window - int64(time.Millisecond) - g.rng.Int64N(int64(5*time.Minute))
	case Future:
		// A device whose clock is a century ahead: a future_event against the
		// record timestamp and, offline, against any wall clock this log will
		// ever be processed at.
		t = g.now + FutureSkew
	case Skewed:
		var ok bool
		if t, ok = g.skewedTime(); !ok {
			kind = Normal
		}
	}
	ev.timeMs = floorDiv(t, nsPerMs)

	g.scratch = g.enc.appendEvent(g.scratch[:0], ev)
	key := g.w.users[ev.user].key
	if kind == Normal || kind == Disordered {
		g.ring.push(key, g.scratch, ev.timeMs)
	}
	return g.message(kind, "", key, g.scratch, ev.timeMs, true)
}

// FutureSkew is how far ahead of the clock a Future event is placed.
const FutureSkew = int64(100 * 365 * 24 * time.Hour)

func (g *Generator) message(kind Kind, defect string, key, value []byte, timeMs int64, hasTime bool) Message {
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	m := Message{
		Key:        buf[:len(key):len(key)],
		Value:      buf[len(key):],
		Kind:       kind,
		Defect:     defect,
		ProducedAt: time.Unix(0, g.now).UTC(),
	}
	if hasTime {
		m.EventTime = time.UnixMilli(timeMs).UTC()
	}
	return m
}

// skewedTime is ahead of the clock by a whole number of milliseconds in
// [MaxFuture/2, MaxFuture]: accepted against a record stamped with the clock
// (exactly at the bound is still accepted), and far enough ahead that
// without the processor's skew cap it would make the on-time events after
// it late. It reports false when MaxFuture is under a millisecond.
func (g *Generator) skewedTime() (int64, bool) {
	maxMs := int64(g.cfg.MaxFuture / time.Millisecond)
	if maxMs < 1 {
		return 0, false
	}
	lo := max(maxMs/2, 1)
	return g.now + (lo+g.rng.Int64N(maxMs-lo+1))*nsPerMs, true
}

// disorderedTime is behind the clock by less than the out-of-orderness bound.
// The processor's watermark is at most clock − OutOfOrderness, so such an
// event is never even behind the watermark.
func (g *Generator) disorderedTime() int64 {
	if g.ooo == 0 {
		return g.now
	}
	return g.now - g.rng.Int64N(g.ooo)
}

// allowedLateTime picks a time in a window whose end E satisfies
//
//	clock − ooo − allowed + margin < E ≤ clock − ooo − margin.
//
// The watermark is about clock − ooo, so E ≤ watermark (the window has
// closed) and E + allowed > watermark (the event is still accepted). It
// reports false when no window end falls in that range, e.g. when the allowed
// lateness is shorter than a window.
func (g *Generator) allowedLateTime() (int64, bool) {
	hi := g.now - g.ooo - g.lateMargin
	lo := g.now - g.ooo - g.allowed + g.lateMargin
	endHi := floorDiv(hi, g.window) * g.window
	endLo := (floorDiv(lo, g.window) + 1) * g.window
	if endHi < endLo {
		return 0, false
	}
	end := endLo + g.rng.Int64N((endHi-endLo)/g.window+1)*g.window
	return end - g.window + g.rng.Int64N(g.window), true
}

// duplicate re-sends a recent valid message byte for byte. It prefers a
// random one of the last few hundred, but falls back to the newest if the
// random pick is so old that its window is already past the allowed
// lateness (possible at low event rates): a duplicate must reach the
// processor's dedup check, not the late check.
func (g *Generator) duplicate() (Message, bool) {
	if g.ring.n == 0 {
		return Message{}, false
	}
	e := g.ring.at(g.rng.IntN(g.ring.n))
	watermark := g.now - g.ooo
	if end := (floorDiv(e.timeMs*nsPerMs, g.window) + 1) * g.window; end+g.allowed <= watermark {
		e = g.ring.at(g.ring.n - 1)
	}
	return g.message(Duplicate, "", e.buf[:e.keyLen], e.buf[e.keyLen:], e.timeMs, true), true
}

// dupRing keeps copies of the most recent valid messages, reusing its buffers
// so that steady-state generation does not allocate for it.
type dupRing struct {
	entries [256]dupEntry
	n       int // filled entries
	next    int // slot of the next push
}

type dupEntry struct {
	buf    []byte // key followed by value
	keyLen int
	timeMs int64
}

func (r *dupRing) push(key, value []byte, timeMs int64) {
	e := &r.entries[r.next]
	e.buf = append(append(e.buf[:0], key...), value...)
	e.keyLen = len(key)
	e.timeMs = timeMs
	r.next = (r.next + 1) % len(r.entries)
	if r.n < len(r.entries) {
		r.n++
	}
}

// at returns the i-th oldest entry; at(n-1) is the newest.
func (r *dupRing) at(i int) *dupEntry {
	start := (r.next - r.n + len(r.entries)) % len(r.entries)
	return &r.entries[(start+i)%len(r.entries)]
}
