package pipeline

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/window"
)

// emissionKey identifies one emission downstream: ReplacingMergeTree keeps
// one row per (window, partition) and trusts the revision to order them.
type emissionKey struct {
	window    string
	partition int32
	revision  int64
}

func keyOf(t *testing.T, b []byte) emissionKey {
	t.Helper()
	var r struct {
		WindowStart     string `json:"window_start"`
		SourcePartition int32  `json:"source_partition"`
		Revision        int64  `json:"revision"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return emissionKey{r.WindowStart, r.SourcePartition, r.Revision}
}

// crashyRun drives the pipeline like the Kafka processor: batches of random
// size, a checkpoint (snapshot + next offset) after some batches, and
// crashes at random points after which the partition restarts from the last
// checkpoint and reprocesses, re-emitting what it had already written. It
// returns every record written, duplicates included, and every dead letter
// by offset.
func crashyRun(t *testing.T, rng *rand.Rand, cfg window.Config, msgs []oracle.Message) ([][]byte, map[int64]string) {
	t.Helper()
	lim := event.Limits{MaxEventBytes: 400, MaxFutureMs: 600_000}
	p, err := NewPartition(cfg, lim, 3)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	dead := map[int64]string{}
	emit := func(v *aggregate.View) { out = append(out, v.AppendJSON(nil)) }
	deadFn := func(l *deadletter.Letter) { dead[l.Offset] = string(l.Reason) }
	var snap []byte // nil: no checkpoint yet, restart from scratch
	cpIndex, crashes := 0, 0
	for i := 0; i < len(msgs); {
		batch := 1 + rng.IntN(40)
		for end := min(i+batch, len(msgs)); i < end; i++ {
			m := msgs[i]
			msg := Message{Partition: 3, Offset: m.Offset, Value: m.Value, RefMs: m.TimestampMs}
			if m.Replay {
				msg.ReplayCount = 1
			}
			p.Process(&msg, emit, deadFn)
		}
		switch r := rng.IntN(10); {
		case r < 3:
			if snap, err = p.Engine.Snapshot(); err != nil {
				t.Fatal(err)
			}
			cpIndex = i
		case r < 4 && crashes < 8:
			crashes++
			if snap == nil {
				p.Engine, err = window.New(cfg, 3)
			} else {
				p.Engine, err = window.Restore(cfg, 3, snap)
			}
			if err != nil {
				t.Fatal(err)
			}
			i = cpIndex
		}
	}
	p.Flush(emit)
	return out, dead
}

// TestReprocessingReemitsTheSameBytes: a partition reprocessed after crashes
// at random points, from checkpoints taken at random batch boundaries,
// writes exactly the (window, partition, revision) set of a run that never
// stopped, each with the same bytes. Coalescing ranges are offsets, not
// batches: if they followed fetch sizes, a reused revision could carry other
// numbers and downstream could keep a stale row.
func TestReprocessingReemitsTheSameBytes(t *testing.T) {
	seeds := 120
	if testing.Short() {
		seeds = 20
	}
	crashed := 0
	for seed := 1; seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 13))
		cfg := window.Config{
			SizeMs:            []int64{1000, 5000, 60_000}[rng.IntN(3)],
			OutOfOrdernessMs:  []int64{0, 500, 5000}[rng.IntN(3)],
			AllowedLatenessMs: []int64{3, 2000, 120_000}[rng.IntN(3)],
			ReplayRetentionMs: []int64{0, 3000, 900_000}[rng.IntN(3)],
			CoalesceOffsets:   []int64{1, 3, 16, 100, 0}[rng.IntN(5)],
		}
		msgs := adversarialLog(rng, 300+rng.IntN(500), cfg)
		straight := runEngine(t, cfg, msgs, nil)
		want := map[emissionKey]string{}
		for _, b := range straight.emissions {
			k := keyOf(t, b)
			if _, seen := want[k]; seen {
				t.Fatalf("seed %d: an uninterrupted run emitted %v twice", seed, k)
			}
			want[k] = string(b)
		}
		got, dead := crashyRun(t, rng, cfg, msgs)
		if len(got) > len(straight.emissions) {
			crashed++
		}
		seen := map[emissionKey]bool{}
		for _, b := range got {
			k := keyOf(t, b)
			w, ok := want[k]
			if !ok {
				t.Fatalf("seed %d cfg %+v: reprocessing emitted %v, which the uninterrupted run never did:\n%s", seed, cfg, k, b)
			}
			if w != string(b) {
				t.Fatalf("seed %d cfg %+v: %v differs after reprocessing:\n got %s\nwant %s", seed, cfg, k, b, w)
			}
			seen[k] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("seed %d: %d distinct emissions after crashes, %d without", seed, len(seen), len(want))
		}
		if len(dead) != len(straight.dead) {
			t.Fatalf("seed %d: %d dead letters after crashes, %d without", seed, len(dead), len(straight.dead))
		}
		for _, l := range straight.dead {
			if dead[l.Offset] != string(l.Reason) {
				t.Fatalf("seed %d: dead letter at %d is %s after crashes, %s without", seed, l.Offset, dead[l.Offset], l.Reason)
			}
		}
	}
	if crashed < seeds/2 {
		t.Fatalf("only %d of %d runs re-emitted anything: the crashes test too little", crashed, seeds)
	}
	t.Log(fmt.Sprintf("%d seeds, %d with re-emissions after a crash", seeds, crashed))
}
