//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/oracle"
)

// TestS1Oracle is contract S1: a generated log with disorder, allowed-late,
// too-late, duplicate, malformed, oversized and future events, processed by
// one replica and stopped with SIGTERM (flush), gives exactly the oracle's
// emissions, final aggregates and dead letters (G1 included).
func TestS1Oracle(t *testing.T) {
	const partitions, count = 3, 30000
	b := brokers(t)
	ctx := testContext(t, 8*time.Minute)
	ts := newTopicSet(t, "s1")
	createTopics(t, b, ts, partitions)
	runRole(t, "producer", 3*time.Minute, producerArgs(b, ts, count, 11, logStart)...)

	group := uniqueName(t, "group")
	began := time.Now()
	p := startRole(t, "processor", processorArgs(b, ts, group)...)
	p.waitLog(t, restoredRE, partitions, time.Minute)
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, p.alive)
	t.Logf("processor consumed %d messages %s after it started", count, time.Since(began).Round(time.Millisecond))
	p.stop(t, time.Minute)

	raw := readTopic(t, ctx, b, ts.Raw, partitions)
	if n := total(raw); n != count {
		t.Fatalf("raw topic holds %d messages, the producer was asked for %d", n, count)
	}
	e := expect(ts.Raw, raw, oracle.DefaultConfig())
	t.Log(e.summary())
	requireChaos(t, e)
	e.verifyRun(t, ctx, b, ts, partitions)
}
