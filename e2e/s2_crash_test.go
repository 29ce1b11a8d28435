//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/oracle"
)

// testSeed returns the seed of a test's random choices: E2E_SEED when set
// (to replay a failure), otherwise a fresh one. It is logged either way.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("random seed %d (rerun with E2E_SEED=%d to replay the same schedule)", seed, seed)
	return seed
}

// restoredRE matches the line of a partition that is ready: restored from
// its checkpoint, or started from the first offset when it has none.
var restoredRE = regexp.MustCompile(`msg="partition (restored|started)`)

// TestS2Crash is contract S2: the S1 workload produced in bursts while a
// processor is SIGKILLed at random points and restarted, at least five
// times. Checkpoints are frequent so that kills land between checkpoints,
// with outputs written past the last one; the restarted replica must resume
// from its checkpoint and re-emit identical records. The final result must
// be the oracle's, every extra record an exact repeat.
func TestS2Crash(t *testing.T) {
	const partitions, bursts, burstSize = 3, 6, 5000
	b := brokers(t)
	ctx := testContext(t, 10*time.Minute)
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	ts := newTopicSet(t, "s2")
	createTopics(t, b, ts, partitions)
	group := uniqueName(t, "group")
	// Each replica draws its batch size and checkpoint bounds, so restarts
	// resume from checkpoints at offsets no fetch pattern repeats; they
	// checkpoint every few hundred messages, so a kill usually lands with
	// some outputs written after the last checkpoint. The re-emitted
	// records must still be byte-identical (verifyRun).
	args := func() []string {
		return processorArgs(b, ts, group, "--checkpoint-every", fmt.Sprint(100+rng.IntN(1000)),
			"--max-batch", fmt.Sprint(1+rng.IntN(1000)), "--checkpoint-interval", fmt.Sprintf("%dms", 50+rng.IntN(1000)))
	}
	start, _ := time.Parse(time.RFC3339, logStart)

	kills, midStream := 0, 0
	for i := 0; i < bursts; i++ {
		p := startRole(t, fmt.Sprintf("processor #%d", i+1), args()...)
		// After a kill the group keeps the dead member until its session
		// times out; only then is this replica assigned and restoring.
		p.waitLog(t, restoredRE, partitions, time.Minute)
		// The new burst arrives while the replica works through what the
		// previous one left behind.
		burstStart := start.Add(time.Duration(i) * 30 * time.Minute).Format(time.RFC3339)
		prod := startRole(t, fmt.Sprintf("producer burst %d", i+1), producerArgs(b, ts, burstSize, uint64(200+i), burstStart)...)
		time.Sleep(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
		p.kill(t)
		kills++
		if err := prod.wait(t, 2*time.Minute); err != nil {
			t.Fatalf("producer burst %d: %v\n%s", i+1, err, prod.out.tail(20))
		}
		mid, progress := consumedProgress(t, ctx, b, group, ts.Raw, partitions)
		if mid {
			midStream++
		}
		t.Logf("kill %d: SIGKILL after restore; %s", kills, progress)
	}
	if kills < 5 {
		t.Fatalf("only %d kills", kills)
	}
	if midStream == 0 {
		t.Error("no kill landed before the replica had consumed its backlog: the test did not exercise recovery")
	}

	final := startRole(t, "processor (final)", args()...)
	// Wait for the restore even if the offsets are already committed: a
	// SIGTERM before the signal handler is installed would just kill it.
	final.waitLog(t, restoredRE, partitions, time.Minute)
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, final.alive)
	final.stop(t, time.Minute)
	restores := strings.Count(final.out.String(), `msg="partition restored"`)
	if restores == 0 {
		t.Error("the final replica never restored a partition")
	}

	raw := readTopic(t, ctx, b, ts.Raw, partitions)
	if n := total(raw); n != bursts*burstSize {
		t.Fatalf("raw topic holds %d messages, produced %d", n, bursts*burstSize)
	}
	e := expect(ts.Raw, raw, oracle.DefaultConfig())
	t.Log(e.summary())
	requireChaos(t, e)
	agg, dlq := e.verifyRun(t, ctx, b, ts, partitions)
	t.Logf("%d kills, %d of them before the backlog was committed; %d repeated aggregates and %d repeated dead letters after restarts",
		kills, midStream, agg.repeats, dlq.repeats)
}

// consumedProgress reports whether the group's committed offsets are behind
// the end of the log, and a description of both.
func consumedProgress(t *testing.T, ctx context.Context, b, group, topic string, partitions int) (bool, string) {
	t.Helper()
	end, err := endOffsets(ctx, b, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	got, err := committedOffsets(ctx, b, group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	var c, e int64
	for p := 0; p < partitions; p++ {
		c += max(got[p], 0)
		e += end[p]
	}
	return c < e, fmt.Sprintf("committed %d of %d messages (%v of %v)", c, e, got, end)
}
