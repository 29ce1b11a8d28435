//go:build e2e && chdb

package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dlq"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/topic"
)

// kafkaBrokers returns the real broker of the e2e run (never skips).
func kafkaBrokers(t *testing.T) (string, []string) {
	t.Helper()
	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		t.Fatal(`KAFKA_BOOTSTRAP is not set: run eval "$(scripts/kafka/kafka.sh start)" && export KAFKA_BOOTSTRAP`)
	}
	brokers, err := kafkaio.ParseBrokers(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	return bootstrap, brokers
}

// buildBinary builds the streamlab binary into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "streamlab")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// howMany reads a number from a replay report: "written N" for what, or
// "N skipped-reason" when what is a dlq.Skip; a skip reason absent from
// the report is 0.
func howMany(t *testing.T, report, what string) int {
	t.Helper()
	re := regexp.QuoteMeta(what) + ` (\d+)`
	if what != "written" {
		re = `(\d+) ` + regexp.QuoteMeta(what)
	}
	m := regexp.MustCompile(re).FindStringSubmatch(report)
	if m == nil {
		if what == "written" {
			t.Fatalf("no %q in %q", what, report)
		}
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestReplayEndToEnd is S4 (contract G4) on a real broker and the real
// ClickHouse engine: after a pipeline run with too-late events, replaying
// the late dead letters makes ClickHouse's per-window totals equal the
// ground truth computed as if nothing had been late; replaying the same
// range again changes nothing; invalid JSON replayed comes back with replay
// count 1 and is then skipped at the maximum.
func TestReplayEndToEnd(t *testing.T) {
	bootstrap, brokers := kafkaBrokers(t)
	c := engine(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildBinary(t, dir)

	id := fmt.Sprintf("replay%d", time.Now().UnixNano())
	topics := topic.Names{Raw: "raw." + id, DLQ: "dlq." + id, Agg: "agg." + id, Alerts: "alerts." + id, State: "state." + id, Replays: "replays." + id}
	const partitions, messages = 3, 8000
	topicFlags := []string{"--brokers", bootstrap, "--raw-topic", topics.Raw, "--dlq-topic", topics.DLQ, "--agg-topic", topics.Agg,
		"--alerts-topic", topics.Alerts, "--state-topic", topics.State, "--replays-topic", topics.Replays}
	start(t, bin, dir, "topics", append([]string{"topics", "create", "--partitions", fmt.Sprint(partitions), "--retention", "87600h"}, topicFlags...)...).wait(t, time.Minute)

	p := DefaultParams()
	p.Database = "e2e_replay"
	p.Brokers = brokers
	p.AggTopic, p.DLQTopic, p.AlertsTopic = topics.Agg, topics.DLQ, topics.Alerts
	p.ConsumerGroup = "clickhouse-" + id
	p.FlushInterval = 500 * time.Millisecond
	freshSchema(t, p)

	start(t, bin, dir, "producer", append([]string{"producer", "--rate", "0", "--count", fmt.Sprint(messages), "--seed", "4",
		"--start", "2026-01-01T00:00:00Z", "--events-per-second", "20", "--too-late-ratio", "0.04", "--metrics-addr", ""}, topicFlags...)...).wait(t, 3*time.Minute)

	group := "processor-" + id
	// A replay retention covering the whole log: the ground truth below is
	// "as if nothing had been late" for every window.
	procArgs := append([]string{"processor", "--group", group, "--metrics-addr", "", "--checkpoint-interval", "500ms", "--replay-retention", "1h"}, topicFlags...)
	n := 0
	process := func() {
		n++
		pr := start(t, bin, dir, fmt.Sprintf("processor-%d", n), procArgs...)
		pr.restored(t, partitions)
		eventually(t, "processor caught up", 3*time.Minute, func() (bool, string) { return caughtUp(ctx, brokers, group, topics.Raw, partitions) })
		pr.signal(t, syscall.SIGTERM)
		pr.wait(t, time.Minute)
	}
	landed := func(what string) map[int64]Totals {
		t.Helper()
		var ch map[int64]Totals
		eventually(t, "ClickHouse equals the aggregate topic "+what, 3*time.Minute, func() (bool, string) {
			latest, err := ReadLatestAggregates(ctx, brokers, topics.Agg)
			if err != nil {
				return false, err.Error()
			}
			d, err := VerifyIn(ctx, c, p.Database, latest)
			if err != nil {
				return false, err.Error()
			}
			var b strings.Builder
			d.Render(&b)
			return d.OK(), fmt.Sprintf("%.600s", b.String())
		})
		ch, err := clickHouseTotals(ctx, c, p.Database)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	replay := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(append([]string{"dlq", "replay", "-q"}, args...), topicFlags...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dlq replay %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	process()
	before := landed("after the first run")

	// Ground truth: the original log (replays excluded) with unbounded lateness.
	logs := map[int32][]oracle.Message{}
	if err := kafkaio.ReadToEnd(ctx, brokers, topics.Raw, func(m kafka.Message) error {
		logs[int32(m.Partition)] = append(logs[int32(m.Partition)], oracle.Message{Offset: m.Offset, Value: m.Value, TimestampMs: m.Time.UnixMilli()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cfg := oracle.DefaultConfig()
	cfg.AllowedLatenessMs = 1 << 50
	var truthRecs []aggregate.Record
	for part, msgs := range logs {
		for _, b := range oracle.Run(cfg, part, msgs).Final {
			r, err := aggregate.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			truthRecs = append(truthRecs, *r)
		}
	}
	truth, _, err := KafkaTotals(truthRecs)
	if err != nil {
		t.Fatal(err)
	}
	// How the numbers were reached differs by design; what they are must not.
	diffs := func(got map[int64]Totals) []string {
		var out []string
		for w, want := range truth {
			for k, v := range want {
				if k == "revision_sum" || k == "late_accepted" || k == "duplicates" {
					continue
				}
				if got[w][k] != v {
					out = append(out, fmt.Sprintf("%s %s: ClickHouse %d, truth %d", formatMs(w), k, got[w][k], v))
				}
			}
		}
		return out
	}
	missing := diffs(before)
	if len(missing) == 0 {
		t.Fatal("no window misses late events before the replay: the test data has no effect")
	}
	t.Logf("before the replay %d numbers differ from the ground truth, e.g. %s", len(missing), missing[0])

	first := replay("--reason", "late_event")
	replayed := howMany(t, first, "written")
	if replayed == 0 {
		t.Fatalf("nothing replayed: %s", first)
	}
	process()
	healed := landed("after the replay")
	if d := diffs(healed); len(d) > 0 {
		t.Fatalf("%d numbers differ from the ground truth after replaying %d late events, e.g. %v", len(d), replayed, d[:min(5, len(d))])
	}
	t.Logf("replayed %d late dead letters: ClickHouse equals the ground truth", replayed)

	// The same range again: the ledger skips it; forced past the ledger, the
	// processor absorbs the replayed duplicates and nothing changes at all.
	again := replay("--reason", "late_event")
	if howMany(t, again, string(dlq.SkipReplayed)) != replayed || howMany(t, again, "written") != 0 {
		t.Fatalf("second replay: %s", again)
	}
	replay("--reason", "late_event", "--force")
	process()
	after := landed("after a forced second replay")
	for w, want := range healed {
		for k, v := range want {
			if after[w][k] != v {
				t.Fatalf("window %s %s changed on a second replay: %d -> %d", formatMs(w), k, v, after[w][k])
			}
		}
	}

	// Invalid JSON fails again: back in the DLQ with replay count 1, then
	// skipped at the maximum.
	bad := replay("--reason", "invalid_json", "--max-replays", "1")
	badN := howMany(t, bad, "written")
	if badN == 0 {
		t.Fatalf("no invalid_json dead letter to replay: %s", bad)
	}
	process()
	entries, err := dlq.Read(ctx, dlq.Source{Brokers: brokers, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	back, visible := 0, 0
	for _, e := range entries {
		if e.Reason == "invalid_json" && e.ReplayCount == 1 {
			back++
			if len(e.Value) > 0 {
				visible++ // the Kafka engine skips messages with an empty value (docs/clickhouse.md)
			}
		}
	}
	if back != badN {
		t.Fatalf("%d invalid records replayed, %d back in the DLQ with replay count 1", badN, back)
	}
	last := replay("--reason", "invalid_json", "--max-replays", "1")
	if howMany(t, last, string(dlq.SkipMaxReplays)) != badN || howMany(t, last, "written") != 0 {
		t.Fatalf("third replay: %s", last)
	}
	eventually(t, "ClickHouse shows the failed replays", time.Minute, func() (bool, string) {
		rows := mustQuery(t, c, "SELECT countIf(replay_count = 1) AS n FROM "+p.Database+".dead_letters FINAL WHERE reason = 'invalid_json'")
		return rows[0]["n"] == json.Number(fmt.Sprint(visible)), fmt.Sprint(rows, " want ", visible)
	})
}
