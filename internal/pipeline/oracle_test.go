package pipeline

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/window"
)

// adversarialLog builds a log that hammers the boundaries: tiny windows,
// heavy disorder, events exactly at window edges and lateness limits,
// duplicates near and far, future events and malformed lines.
func adversarialLog(rng *rand.Rand, n int, cfg window.Config) []oracle.Message {
	base := int64(1_767_225_600_000) - rng.Int64N(4)*3_000_000_000_000 // some seeds start before 1970
	clock := base
	var ids []string
	msgs := make([]oracle.Message, 0, n)
	types := event.TypeNames()
	for i := 0; i < n; i++ {
		if i > 0 && rng.IntN(100) < 8 { // an exact redelivery of a recent message
			prev := msgs[len(msgs)-1-rng.IntN(min(len(msgs), 20))]
			msgs = append(msgs, oracle.Message{Offset: int64(i), Value: prev.Value, TimestampMs: prev.TimestampMs})
			continue
		}
		clock += rng.Int64N(cfg.SizeMs/8 + 1)
		ts := clock + rng.Int64N(2000)
		var t int64
		switch r := rng.IntN(100); {
		case r < 50:
			t = clock
		case r < 70:
			t = clock - rng.Int64N(cfg.OutOfOrdernessMs+1)
		case r < 80: // around the allowed-lateness boundary
			t = clock - cfg.OutOfOrdernessMs - cfg.AllowedLatenessMs - rng.Int64N(2*cfg.SizeMs+1) + cfg.SizeMs
		case r < 85: // exactly on a window edge
			t = window.Config{SizeMs: cfg.SizeMs}.WindowStart(clock) - rng.Int64N(3)*cfg.SizeMs
		case r < 86: // just past the future bound
			t = ts + 600_001 + rng.Int64N(1000)
		case r < 87 && rng.IntN(4) == 0: // exactly at it: accepted, W moves only to ts
			t = ts + 600_000
		case r < 91: // skewed but valid: ahead of its record, within the bound
			t = ts + 1 + rng.Int64N(600_000)
		default:
			t = clock - rng.Int64N(10*cfg.SizeMs)
		}
		var id string
		if len(ids) > 0 && rng.IntN(100) < 12 {
			id = ids[len(ids)-1-rng.IntN(min(len(ids), 50))]
			if rng.IntN(4) == 0 {
				id = strings.ToUpper(id)
			}
		} else {
			id = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48))
			ids = append(ids, id)
		}
		typ := types[rng.IntN(len(types))]
		var b strings.Builder
		fmt.Fprintf(&b, `{"schema_version":1,"event_id":%q,"event_type":%q,"event_time":%q,"user_id":"u%d","session_id":"s%d"`,
			id, typ, time.UnixMilli(t).UTC().Format(pickLayout(rng)), rng.IntN(20), rng.IntN(30))
		if typ == "product_view" || typ == "add_to_cart" {
			fmt.Fprintf(&b, `,"product_id":"p%d"`, rng.IntN(7))
		}
		if strings.HasPrefix(typ, "order") || typ == "payment_failed" {
			cur := []string{"EUR", "USD", "JPY"}[rng.IntN(3)]
			fmt.Fprintf(&b, `,"order_id":"o%d","amount_minor":%d,"currency":%q`, i, 1+rng.Int64N(8796093022217), cur)
		}
		b.WriteString("}")
		v := []byte(b.String())
		switch r := rng.IntN(100); {
		case r < 2:
			v = v[:rng.IntN(len(v))]
		case r < 3:
			v[rng.IntN(len(v))] = 0xff
		case r < 4:
			v = []byte(strings.Replace(string(v), `"schema_version":1`, `"schema_version":2`, 1))
		case r < 5:
			v = []byte(strings.Replace(string(v), `"user_id":"u`, `"user_id":"`, 1)[:0])
		case r < 6:
			v = []byte(strings.Replace(string(v), `"amount_minor":`, `"amount_minor":-`, 1))
		}
		msgs = append(msgs, oracle.Message{Offset: int64(i), Value: v, TimestampMs: ts})
	}
	// Replays: some earlier messages come back re-injected from the DLQ.
	for k := 0; k < n/20; k++ {
		prev := msgs[rng.IntN(len(msgs))]
		at := rng.IntN(len(msgs))
		msgs = append(msgs[:at], append([]oracle.Message{{Value: prev.Value, TimestampMs: prev.TimestampMs + rng.Int64N(600_000), Replay: true}}, msgs[at:]...)...)
	}
	// Offsets grow, with a gap now and then (compaction, transaction
	// markers): coalescing ranges must be counted in offsets, not messages.
	gaps := rng.IntN(2) == 0
	next := int64(rng.IntN(3)) * 1000
	for i := range msgs {
		msgs[i].Offset = next
		next++
		if gaps && rng.IntN(10) == 0 {
			next += rng.Int64N(40)
		}
	}
	return msgs
}

// byOffset indexes a log by offset.
func byOffset(msgs []oracle.Message) map[int64]*oracle.Message {
	idx := make(map[int64]*oracle.Message, len(msgs))
	for i := range msgs {
		idx[msgs[i].Offset] = &msgs[i]
	}
	return idx
}

// oracleConfig is the oracle's reading of the engine's settings.
func oracleConfig(cfg window.Config) oracle.Config {
	return oracle.Config{WindowMs: cfg.SizeMs, OutOfOrdernessMs: cfg.OutOfOrdernessMs, AllowedLatenessMs: cfg.AllowedLatenessMs,
		MaxEventBytes: 400, MaxFutureMs: 600_000, ReplayRetentionMs: cfg.ReplayRetentionMs, CoalesceOffsets: cfg.CoalesceOffsets}
}

func pickLayout(rng *rand.Rand) string {
	return []string{"2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.000000-07:00", "2006-01-02T15:04:05.9Z07:00"}[rng.IntN(4)]
}

type run struct {
	emissions [][]byte
	dead      []*deadletter.Letter
	outcomes  map[Outcome]int
	each      []Outcome // per message
}

// runEngine drives the real pipeline, snapshotting and restoring the engine
// at the given offsets (a restart mid-log).
func runEngine(t *testing.T, cfg window.Config, msgs []oracle.Message, restoreAt map[int]bool) run {
	return runEngineFlushing(t, cfg, msgs, restoreAt, nil)
}

// runEngineFlushing also flushes (a graceful shutdown) before the restores
// at flushAt.
func runEngineFlushing(t *testing.T, cfg window.Config, msgs []oracle.Message, restoreAt, flushAt map[int]bool) run {
	t.Helper()
	lim := event.Limits{MaxEventBytes: 400, MaxFutureMs: 600_000}
	p, err := NewPartition(cfg, lim, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := run{outcomes: map[Outcome]int{}}
	emit := func(v *aggregate.View) { r.emissions = append(r.emissions, v.AppendJSON(nil)) }
	dead := func(l *deadletter.Letter) { r.dead = append(r.dead, l) }
	for i, m := range msgs {
		if flushAt[i] {
			p.Engine.Flush(emit)
		}
		if restoreAt[i] {
			snap, err := p.Engine.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if p.Engine, err = window.Restore(cfg, 3, snap); err != nil {
				t.Fatal(err)
			}
		}
		msg := Message{Partition: 3, Offset: m.Offset, Value: m.Value, RefMs: m.TimestampMs}
		if m.Replay {
			msg.ReplayCount = 1
		}
		o := p.Process(&msg, emit, dead)
		r.outcomes[o]++
		r.each = append(r.each, o)
	}
	p.Engine.Flush(emit)
	return r
}

// TestEngineMatchesOracle compares every emission, in order, and every dead
// letter of the real pipeline with the independent oracle over many seeds,
// with and without snapshot/restore at random points.
func TestEngineMatchesOracle(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 40
	}
	totalEmissions, totalRevisions, totalLate, totalDup, totalCapped := 0, 0, 0, 0, 0
	for seed := 1; seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		cfg := window.Config{
			SizeMs:            []int64{1000, 5000, 60_000, 7}[rng.IntN(4)],
			OutOfOrdernessMs:  []int64{0, 1, 500, 5000}[rng.IntN(4)],
			AllowedLatenessMs: []int64{0, 3, 2000, 120_000}[rng.IntN(4)],
			ReplayRetentionMs: []int64{0, 5, 3000, 900_000}[rng.IntN(4)],
			CoalesceOffsets:   []int64{1, 2, 7, 64, 0}[rng.IntN(5)],
		}
		msgs := adversarialLog(rng, 300+rng.IntN(700), cfg)
		at := byOffset(msgs)
		want := oracle.Run(oracleConfig(cfg), 3, msgs)
		restoreAt := map[int]bool{}
		if seed%2 == 0 {
			for k := 0; k < 1+rng.IntN(8); k++ {
				restoreAt[rng.IntN(len(msgs))] = true
			}
		}
		got := runEngine(t, cfg, msgs, restoreAt)
		ctx := fmt.Sprintf("seed %d cfg %+v restores %d", seed, cfg, len(restoreAt))

		if len(got.emissions) != len(want.Emissions) {
			t.Fatalf("%s: %d emissions, oracle %d", ctx, len(got.emissions), len(want.Emissions))
		}
		for i := range want.Emissions {
			if ok, diff := oracle.EqualJSON(got.emissions[i], want.Emissions[i]); !ok {
				t.Fatalf("%s: emission %d differs: %s\n got %s\nwant %s", ctx, i, diff, got.emissions[i], want.Emissions[i])
			}
		}
		if len(got.dead) != len(want.DeadLetters) {
			t.Fatalf("%s: %d dead letters, oracle %d", ctx, len(got.dead), len(want.DeadLetters))
		}
		for i, w := range want.DeadLetters {
			g := got.dead[i]
			gt := ""
			if g.HasEventTime {
				gt = event.FormatMillis(g.EventTimeMs)
			}
			if g.Offset != w.Offset || string(g.Reason) != w.Reason || gt != w.EventTime {
				t.Fatalf("%s: dead letter %d = offset %d %s %q (%s), oracle offset %d %s %q\nvalue %q",
					ctx, i, g.Offset, g.Reason, gt, g.Error, w.Offset, w.Reason, w.EventTime, at[w.Offset].Value)
			}
			if string(g.Value) != string(at[g.Offset].Value) {
				t.Fatalf("%s: dead letter %d does not keep the original bytes", ctx, i)
			}
		}
		// G1 conservation.
		if got.outcomes[Counted] != want.Counted || got.outcomes[Duplicate] != want.Duplicates ||
			got.outcomes[Counted]+got.outcomes[Duplicate]+len(got.dead) != len(msgs) {
			t.Fatalf("%s: outcomes %v, oracle counted %d duplicates %d dead %d of %d", ctx, got.outcomes, want.Counted, want.Duplicates, len(want.DeadLetters), len(msgs))
		}
		totalEmissions += len(got.emissions)
		totalLate += got.outcomes[Outcome(event.LateEvent)]
		totalDup += got.outcomes[Duplicate]
		totalCapped += cappedEvents(msgs, got.each)
		for _, e := range got.emissions {
			if !strings.Contains(string(e), `"revision":1,`) {
				totalRevisions++
			}
		}
	}
	// The generator must actually exercise what we claim to test.
	if totalRevisions == 0 || totalLate == 0 || totalDup == 0 || totalCapped == 0 {
		t.Fatalf("weak test data: %d emissions, %d upserts, %d late, %d duplicates, %d skewed counted", totalEmissions, totalRevisions, totalLate, totalDup, totalCapped)
	}
	t.Logf("%d seeds: %d emissions, %d upsert revisions, %d late dead letters, %d duplicates, %d counted events ahead of their record",
		seeds, totalEmissions, totalRevisions, totalLate, totalDup, totalCapped)
}

// cappedEvents counts the counted events whose event_time is ahead of their
// record timestamp: the ones the skew cap holds back.
func cappedEvents(msgs []oracle.Message, outcomes []Outcome) int {
	n := 0
	var ev event.Event
	for i, m := range msgs {
		if outcomes[i] == Counted && event.Parse(m.Value, m.TimestampMs, event.Limits{MaxEventBytes: 400, MaxFutureMs: 600_000}, &ev) == nil && ev.TimeMs > m.TimestampMs {
			n++
		}
	}
	return n
}

// TestGracefulRestartsKeepFinalNumbers: shutdown flushes at random points
// (followed by restores) leave every final number equal to the oracle's;
// only the revision may be higher, recording that a flush happened.
func TestGracefulRestartsKeepFinalNumbers(t *testing.T) {
	for seed := 1; seed <= 60; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 99))
		cfg := window.Config{SizeMs: 5000, OutOfOrdernessMs: 500, AllowedLatenessMs: 2000, ReplayRetentionMs: 3000, CoalesceOffsets: 16}
		msgs := adversarialLog(rng, 600, cfg)
		want := oracle.Run(oracleConfig(cfg), 3, msgs)
		stops := map[int]bool{}
		for k := 0; k < 4; k++ {
			stops[rng.IntN(len(msgs))] = true
		}
		got := runEngineFlushing(t, cfg, msgs, stops, stops)
		final := map[string]map[string]any{}
		for _, e := range got.emissions {
			var m map[string]any
			if err := json.Unmarshal(e, &m); err != nil {
				t.Fatal(err)
			}
			final[m["window_start"].(string)] = m
		}
		if len(final) != len(want.Final) {
			t.Fatalf("seed %d: %d windows, oracle %d", seed, len(final), len(want.Final))
		}
		for ws, wb := range want.Final {
			var w map[string]any
			if err := json.Unmarshal(wb, &w); err != nil {
				t.Fatal(err)
			}
			g := final[ws]
			if g["revision"].(float64) < w["revision"].(float64) {
				t.Fatalf("seed %d window %s: revision %v below the oracle's %v", seed, ws, g["revision"], w["revision"])
			}
			delete(g, "revision")
			delete(w, "revision")
			gb, _ := json.Marshal(g)
			wb2, _ := json.Marshal(w)
			if string(gb) != string(wb2) {
				t.Fatalf("seed %d window %s:\n got %s\nwant %s", seed, ws, gb, wb2)
			}
		}
	}
}
