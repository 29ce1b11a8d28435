package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dlq"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/processor"
)

// countFields are the numbers a late event contributes to; revision,
// late_accepted and duplicates describe how the number was reached.
var countFields = []string{"events", "events_by_type", "users", "sessions", "orders", "revenue_minor", "refunds",
	"refunded_minor", "payment_failures", "funnel", "product_views"}

func projected(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, f := range countFields {
		out[f] = m[f]
	}
	s, _ := json.Marshal(out)
	return string(s)
}

// groundTruth is the oracle's result as if nothing had been late: the
// original log (replays excluded) with unbounded lateness.
func groundTruth(t *testing.T, brokers []string, topics topic.Names, partitions int) map[string]string {
	t.Helper()
	cfg := oracle.DefaultConfig()
	cfg.AllowedLatenessMs = 1 << 50
	out := map[string]string{}
	for p := 0; p < partitions; p++ {
		res, _ := runOracle(t, brokers, topics.Raw, p, cfg, func(m kafka.Message) bool {
			for _, h := range m.Headers {
				if h.Key == deadletter.HeaderReplayOf {
					return false
				}
			}
			return true
		})
		for ws, b := range res.Final {
			out[fmt.Sprintf("%s/%d", ws, p)] = projected(t, b)
		}
	}
	return out
}

func current(t *testing.T, brokers []string, topics topic.Names) map[string]string {
	out := map[string]string{}
	for k, b := range readResult(t, brokers, topics).final {
		out[k] = projected(t, b)
	}
	return out
}

func diffCount(got, want map[string]string) int {
	n := 0
	for k, w := range want {
		if got[k] != w {
			n++
		}
	}
	return n + max(0, len(got)-len(want))
}

// TestReplayHealsLateEvents is G4 on the in-process broker: after replaying
// the late dead letters the latest aggregates equal the ground truth as if
// nothing had been late; replaying again (forced past the ledger) changes
// nothing.
func TestReplayHealsLateEvents(t *testing.T) {
	brokers, topics := startCluster(t, 3)
	produce(t, brokers, topics.Raw, 21, 6000)
	m := processor.NewMetrics(prometheus.NewRegistry())
	untilDone := func() {
		restored := restores(m)
		runProcessor(t, brokers, topics, m, true, func() bool { return restores(m) >= restored+3 && caughtUp(t, brokers, topics) })
	}
	untilDone()
	truth := groundTruth(t, brokers, topics, 3)
	before := diffCount(current(t, brokers, topics), truth)
	if before == 0 {
		t.Fatal("no window is missing late events: the test data has no effect")
	}

	ctx := context.Background()
	replay := func(force bool) *dlq.ReplayReport {
		sum, err := dlq.Replay(ctx, dlq.ReplayConfig{Source: dlq.Source{Brokers: brokers, Topics: topics}, MaxReplays: 3, Force: force,
			Filter: dlq.Filter{Reasons: []string{"late_event"}}})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	sum := replay(false)
	if sum.Written == 0 || sum.Failed != 0 {
		t.Fatalf("replay: %+v", sum)
	}
	untilDone()
	if n := diffCount(current(t, brokers, topics), truth); n != 0 {
		t.Fatalf("%d windows differ from the ground truth after the replay (%d before)", n, before)
	}

	if again := replay(false); again.Written != 0 || again.Plan.Skipped[dlq.SkipReplayed] != sum.Written {
		t.Fatalf("second replay without --force: %+v", again)
	}
	snapshot := readResult(t, brokers, topics).final
	if forced := replay(true); forced.Written != sum.Written {
		t.Fatalf("forced replay: %+v", forced)
	}
	untilDone()
	after := readResult(t, brokers, topics).final
	for k, b := range snapshot {
		if string(after[k]) != string(b) {
			t.Fatalf("window %s changed on a second replay:\n%s\n%s", k, b, after[k])
		}
	}
}

// TestReplayOfBadRecordsStops: an invalid record that fails again returns to
// the DLQ with replay count 1, and is skipped once it reaches the maximum.
func TestReplayOfBadRecordsStops(t *testing.T) {
	brokers, topics := startCluster(t, 3)
	produce(t, brokers, topics.Raw, 22, 3000)
	m := processor.NewMetrics(prometheus.NewRegistry())
	untilDone := func() {
		restored := restores(m)
		runProcessor(t, brokers, topics, m, true, func() bool { return restores(m) >= restored+3 && caughtUp(t, brokers, topics) })
	}
	untilDone()
	ctx := context.Background()
	cfg := dlq.ReplayConfig{Source: dlq.Source{Brokers: brokers, Topics: topics}, MaxReplays: 1, Filter: dlq.Filter{Reasons: []string{"invalid_json"}}}
	first, err := dlq.Replay(ctx, cfg)
	if err != nil || first.Written == 0 {
		t.Fatalf("first replay: %+v %v", first, err)
	}
	untilDone()
	entries, err := dlq.Read(ctx, dlq.Source{Brokers: brokers, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, e := range entries {
		if e.Reason == "invalid_json" && e.ReplayCount == 1 {
			again++
		}
	}
	if again != first.Written {
		t.Fatalf("%d replayed invalid records, %d back in the DLQ with replay count 1", first.Written, again)
	}
	second, err := dlq.Replay(ctx, cfg)
	if err != nil || second.Written != 0 || second.Plan.Skipped[dlq.SkipMaxReplays] != again || second.Plan.Skipped[dlq.SkipReplayed] != first.Written {
		t.Fatalf("second replay: %+v %v", second, err)
	}
}
