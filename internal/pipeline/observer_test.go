package pipeline

import (
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/window"
)

type countingObserver struct {
	NopObserver // OnFlush is overridden below; the embedding is what users do
	outcomes    map[Outcome]int
	kinds       map[EmitKind]int
	flushes     []int
	order       []string
}

func (c *countingObserver) OnMessage(_ *Message, o Outcome) {
	c.outcomes[o]++
	c.order = append(c.order, "message")
}

func (c *countingObserver) OnEmit(p int32, k EmitKind) {
	if p != 2 {
		panic("wrong partition")
	}
	c.kinds[k]++
	c.order = append(c.order, "emit")
}

func (c *countingObserver) OnFlush(_ int32, n int) { c.flushes = append(c.flushes, n) }

// TestObserverSeesEverything: the observer's counts equal what Process
// returns and what reaches the emit and dead-letter callbacks, emissions are
// reported before the outcome of the message that caused them, and a flush
// reports how many windows it published.
func TestObserverSeesEverything(t *testing.T) {
	g, err := gen.New(gen.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPartition(window.DefaultConfig(), event.DefaultLimits(), 2)
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{outcomes: map[Outcome]int{}, kinds: map[EmitKind]int{}}
	p.Observer = obs
	returned := map[Outcome]int{}
	byRevision := map[EmitKind]int{}
	var emitted, dead int
	emit := func(r *aggregate.View) {
		emitted++
		if r.Revision == 1 {
			byRevision[FirstEmission]++
		} else {
			byRevision[Upsert]++
		}
	}
	deadFn := func(*deadletter.Letter) { dead++ }
	for i := range 30_000 {
		m := g.Next()
		msg := Message{Partition: 2, Offset: int64(i), Value: m.Value, RefMs: m.ProducedAt.UnixMilli()}
		before := len(obs.order)
		returned[p.Process(&msg, emit, deadFn)]++
		if got := obs.order[len(obs.order)-1]; got != "message" || len(obs.order) == before {
			t.Fatalf("message %d: the outcome was not reported last", i)
		}
	}
	flushedBefore := emitted
	p.Flush(emit)
	if len(obs.flushes) != 1 || obs.flushes[0] != emitted-flushedBefore || obs.flushes[0] == 0 {
		t.Fatalf("flushes %v, the flush emitted %d", obs.flushes, emitted-flushedBefore)
	}
	for o, n := range returned {
		if obs.outcomes[o] != n {
			t.Fatalf("outcome %s: observer %d, returned %d", o, obs.outcomes[o], n)
		}
	}
	if len(obs.outcomes) != len(returned) {
		t.Fatalf("observer outcomes %v, returned %v", obs.outcomes, returned)
	}
	deadSeen := 0
	for o, n := range obs.outcomes {
		if o != Counted && o != Duplicate {
			deadSeen += n
		}
	}
	if deadSeen != dead || dead == 0 {
		t.Fatalf("observer saw %d dead letters, callback %d", deadSeen, dead)
	}
	if obs.kinds[FirstEmission] != byRevision[FirstEmission] || obs.kinds[Upsert] != byRevision[Upsert] || obs.kinds[Upsert] == 0 {
		t.Fatalf("observer emissions %v, records %v", obs.kinds, byRevision)
	}
}

func TestNopObserverIsAnObserver(t *testing.T) {
	var o Observer = NopObserver{}
	o.OnMessage(&Message{}, Counted)
	o.OnEmit(0, FirstEmission)
	o.OnFlush(0, 0)
	if FirstEmission.String() != "first" || Upsert.String() != "upsert" {
		t.Fatal("kind names")
	}
}
