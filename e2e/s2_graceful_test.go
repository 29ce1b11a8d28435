//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/oracle"
)

// TestS2GracefulRestarts is G2 for SIGTERM: the processor is stopped
// gracefully (flushing open windows, contract §6) several times mid-log and
// restarted. Every final number equals the oracle's; only a window's
// revision may be higher, because a flush published it early
// (docs/design.md §3).
func TestS2GracefulRestarts(t *testing.T) {
	const partitions, total = 3, 20000
	b := brokers(t)
	ctx := testContext(t, 5*time.Minute)
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	ts := newTopicSet(t, "grace")
	createTopics(t, b, ts, partitions)
	group := uniqueName(t, "group")
	args := processorArgs(b, ts, group, "--checkpoint-every", "700", "--max-batch", "300")
	runRole(t, "producer", time.Minute, producerArgs(b, ts, total, 77, logStart)...)
	for i := 0; i < 4; i++ {
		p := startRole(t, fmt.Sprintf("processor #%d", i+1), args...)
		p.waitLog(t, restoredRE, partitions, time.Minute)
		time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		p.stop(t, time.Minute)
		_, progress := consumedProgress(t, ctx, b, group, ts.Raw, partitions)
		t.Logf("graceful stop %d: %s", i+1, progress)
	}
	final := startRole(t, "processor (final)", args...)
	final.waitLog(t, restoredRE, partitions, time.Minute)
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, final.alive)
	final.stop(t, time.Minute)

	raw := readTopic(t, ctx, b, ts.Raw, partitions)
	e := expect(ts.Raw, raw, oracle.DefaultConfig())
	agg := readAggregates(t, ctx, b, ts.Agg, partitions)
	e.checkDLQ(t, readDLQ(t, ctx, b, ts.DLQ, partitions))
	pr := newProblems(t, "aggregates after graceful restarts")
	defer pr.done()
	higher := 0
	for p, r := range e.res {
		for ws, want := range r.Final {
			got, ok := agg.latest[winKey{ws, int32(p)}]
			if !ok {
				pr.add("window %s/%d missing", ws, p)
				continue
			}
			g, w := withoutRevision(t, got), withoutRevision(t, want)
			if g.rev < w.rev {
				pr.add("window %s/%d: revision %d below the oracle's %d", ws, p, g.rev, w.rev)
			}
			if g.rev > w.rev {
				higher++
			}
			if eq, diff := oracle.EqualJSON(g.rest, w.rest); !eq {
				pr.add("window %s/%d differs from the oracle beyond its revision:\n%s", ws, p, diff)
			}
		}
	}
	if len(agg.latest) != countFinal(e) {
		pr.add("%d windows on the topic, oracle %d", len(agg.latest), countFinal(e))
	}
	t.Logf("%d windows equal the oracle on every number; %d carry a higher revision from a flush", countFinal(e), higher)
}

type revSplit struct {
	rev  int64
	rest []byte
}

func withoutRevision(t *testing.T, rec []byte) revSplit {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	rev := int64(m["revision"].(float64))
	delete(m, "revision")
	rest, _ := json.Marshal(m)
	return revSplit{rev, rest}
}

func countFinal(e *expectation) int {
	n := 0
	for _, r := range e.res {
		n += len(r.Final)
	}
	return n
}
