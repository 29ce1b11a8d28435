//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/oracle"
)

var movedRE = regexp.MustCompile(`msg="partition restored" partition=\d+ next_offset=\d+`)

var assignedRE = regexp.MustCompile(`msg="partitions assigned" generation=\d+ partitions="?\[([0-9 ]*)\]"?`)

// lastAssignment returns the partitions of a replica's latest generation.
func lastAssignment(p *proc) ([]string, bool) {
	all := assignedRE.FindAllStringSubmatch(p.out.String(), -1)
	if len(all) == 0 {
		return nil, false
	}
	return strings.Fields(all[len(all)-1][1]), true
}

// TestS3Scale is contract S3: one log processed by three replicas in one group
// (joining one after another while the log is being written, so partitions
// move between them mid-stream) and, independently, by a single replica
// (its own group, outputs and checkpoints) gives identical final aggregates
// and dead letters, both equal to the oracle's.
func TestS3Scale(t *testing.T) {
	const partitions, burstSize = 3, 15000
	b := brokers(t)
	ctx := testContext(t, 10*time.Minute)
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	three := newTopicSet(t, "three")
	one := newTopicSet(t, "one").withRaw(three.Raw)
	createTopics(t, b, three, partitions)
	createTopics(t, b, one, partitions)
	start, _ := time.Parse(time.RFC3339, logStart)

	// Three replicas, the second and third joining while the first burst is
	// being consumed: each join is a rebalance that moves partitions (and
	// their checkpoints) between live replicas.
	groupThree := uniqueName(t, "group3")
	var replicas []*proc
	newReplica := func() {
		replicas = append(replicas, startRole(t, fmt.Sprintf("replica %d/3", len(replicas)+1), processorArgs(b, three, groupThree)...))
	}
	newReplica()
	replicas[0].waitLog(t, restoredRE, partitions, time.Minute)
	burst1 := startRole(t, "producer burst 1", producerArgs(b, three, burstSize, 31, logStart)...)
	for len(replicas) < 3 {
		time.Sleep(150*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond))))
		newReplica()
	}
	if err := burst1.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("producer burst 1: %v", err)
	}
	// Wait until the group settled with one partition per replica, then
	// write the second half for all three to work on in parallel.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		settled := true
		for _, r := range replicas {
			if err := r.alive(); err != nil {
				t.Fatal(err)
			}
			if ps, ok := lastAssignment(r); !ok || len(ps) != 1 {
				settled = false
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the three replicas did not settle on one partition each within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	burst2Start := start.Add(30 * time.Minute).Format(time.RFC3339)
	runRole(t, "producer burst 2", 2*time.Minute, producerArgs(b, three, burstSize, 32, burst2Start)...)
	waitConsumed(t, ctx, b, groupThree, three.Raw, partitions, 3*time.Minute, func() error {
		for _, r := range replicas {
			if err := r.alive(); err != nil {
				return err
			}
		}
		return nil
	})
	owners := map[string]string{}
	for _, r := range replicas {
		ps, _ := lastAssignment(r)
		for _, p := range ps {
			owners[p] = r.name
		}
	}
	t.Logf("final assignment: %v", owners)
	// Partitions must really have moved: a later replica took one over
	// from the state the first one checkpointed.
	moved := 0
	for _, r := range replicas[1:] {
		moved += len(movedRE.FindAllStringIndex(r.out.String(), -1))
	}
	if moved == 0 {
		t.Error("no partition was restored from another replica's checkpoint: the rebalances moved no state")
	}
	t.Logf("%d partition restores from a checkpoint by the replicas that joined later", moved)
	// Stop all three at once, as an orchestrator scaling to zero would.
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.terminate(2 * time.Minute); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The same log, from scratch, by a single replica.
	groupOne := uniqueName(t, "group1")
	single := startRole(t, "single replica", processorArgs(b, one, groupOne)...)
	single.waitLog(t, restoredRE, partitions, time.Minute)
	waitConsumed(t, ctx, b, groupOne, one.Raw, partitions, 3*time.Minute, single.alive)
	single.stop(t, time.Minute)

	raw := readTopic(t, ctx, b, three.Raw, partitions)
	if n := total(raw); n != 2*burstSize {
		t.Fatalf("raw topic holds %d messages, produced %d", n, 2*burstSize)
	}
	e := expect(three.Raw, raw, oracle.DefaultConfig())
	t.Log(e.summary())
	requireChaos(t, e)
	t.Log("three replicas vs oracle:")
	agg3, dlq3 := e.verifyRun(t, ctx, b, three, partitions)
	t.Log("one replica vs oracle:")
	agg1, dlq1 := e.verifyRun(t, ctx, b, one, partitions)

	// Direct comparison of the two runs, independent of the oracle.
	pr := newProblems(t, "1 vs 3 replicas")
	defer pr.done()
	for k, rec1 := range agg1.latest {
		rec3, ok := agg3.latest[k]
		if !ok {
			pr.add("window %s/%d only in the single-replica run", k.start, k.partition)
			continue
		}
		if eq, diff := oracle.EqualJSON(rec1, rec3); !eq {
			pr.add("window %s/%d differs (1 vs 3 replicas):\n%s", k.start, k.partition, diff)
		}
	}
	for k := range agg3.latest {
		if _, ok := agg1.latest[k]; !ok {
			pr.add("window %s/%d only in the three-replica run", k.start, k.partition)
		}
	}
	for k, l1 := range dlq1.letters {
		l3, ok := dlq3.letters[k]
		switch {
		case !ok:
			pr.add("dead letter %d@%d only in the single-replica run", k.partition, k.offset)
		case l1.Reason != l3.Reason || l1.EventTimeMs != l3.EventTimeMs || l1.HasEventTime != l3.HasEventTime:
			pr.add("dead letter %d@%d: %s vs %s", k.partition, k.offset, l1.Reason, l3.Reason)
		}
	}
	for k := range dlq3.letters {
		if _, ok := dlq1.letters[k]; !ok {
			pr.add("dead letter %d@%d only in the three-replica run", k.partition, k.offset)
		}
	}
	t.Logf("1 vs 3 replicas: %d windows, %d dead letters compared", len(agg1.latest), len(dlq1.letters))
}
