//go:build e2e && chdb

// The end-to-end test (contract S7 and G3): a real Kafka broker, the streamlab
// binary as producer and processor processes, and the schema applied in
// chDB with the real Kafka engine consuming the topics.
//
//	eval "$(scripts/kafka/kafka.sh start)" && export KAFKA_BOOTSTRAP
//	eval "$(scripts/chdb/install.sh)" && export STREAMLAB_LIBCHDB
//	go test -tags 'e2e chdb' -run TestEndToEnd -v -timeout 20m ./clickhouse/
//
// The Kafka engine's consumer runs inside chDB (librdkafka is part of
// libchdb), so no stand-in table is needed: the bytes go broker -> Kafka
// engine -> materialized views exactly as on a ClickHouse server.
package clickhouse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/grafanatest"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/topic"
)

const e2eMessages = 20000

// proc is one streamlab process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func start(t *testing.T, bin, logDir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	// Registered first, so it runs after the kill below: the log is
	// whole, and it goes before t.TempDir removes it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- tail of %s's output (%s):\n%s", name, strings.Join(args, " "), p.tail())
		}
	})
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// wait waits for the process to exit and fails unless it exited 0.
func (p *proc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("%s: %v\n%s", p.name, p.err, p.tail())
		}
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v\n%s", p.name, timeout, p.tail())
	}
}

// restored waits until the processor has restored every partition it was
// assigned, i.e. it is past startup and handles signals.
func (p *proc) restored(t *testing.T, partitions int) {
	t.Helper()
	eventually(t, p.name+" restored its partitions", 2*time.Minute, func() (bool, string) {
		b, _ := os.ReadFile(p.log)
		n := strings.Count(string(b), "partition restored") + strings.Count(string(b), "partition started")
		return n >= partitions, fmt.Sprintf("%d partitions restored\n%s", n, p.tail())
	})
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v: %s", what, timeout, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// caughtUp reports whether the group has committed the end offset of every
// partition of topic.
func caughtUp(ctx context.Context, brokers []string, group, topic string, partitions int) (bool, string) {
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	resp, err := (&kafka.Client{Addr: kafka.TCP(brokers...)}).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		return false, err.Error()
	}
	var state []string
	ok := true
	for _, po := range resp.Topics[topic] {
		_, last, err := kafkaio.Offsets(ctx, brokers, topic, po.Partition)
		if err != nil {
			return false, err.Error()
		}
		state = append(state, fmt.Sprintf("p%d %d/%d", po.Partition, po.CommittedOffset, last))
		if po.CommittedOffset < last {
			ok = false
		}
	}
	return ok && len(resp.Topics[topic]) == partitions, strings.Join(state, " ")
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(ctx context.Context, t *testing.T, brokers []string, topic string, partitions int) map[int]int64 {
	t.Helper()
	out := make(map[int]int64, partitions)
	for p := range partitions {
		_, last, err := kafkaio.Offsets(ctx, brokers, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = last
	}
	return out
}

func topicSize(ctx context.Context, t *testing.T, brokers []string, topic string, partitions int) int64 {
	t.Helper()
	var n int64
	for p := range partitions {
		first, last, err := kafkaio.Offsets(ctx, brokers, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		n += last - first
	}
	return n
}

// copyTopic appends every message of topic to it again, keys, values and
// headers unchanged: a whole second delivery of everything on it.
func copyTopic(ctx context.Context, t *testing.T, brokers []string, topic string) int {
	t.Helper()
	var msgs []kafka.Message
	if err := kafkaio.ReadToEnd(ctx, brokers, topic, func(m kafka.Message) error {
		msgs = append(msgs, kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w := kafkaio.NewWriter(brokers, topic)
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

func TestEndToEnd(t *testing.T) {
	bootstrap, brokers := kafkaBrokers(t)
	c := engine(t) // fails without STREAMLAB_LIBCHDB
	ctx := context.Background()
	began := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }

	dir := t.TempDir()
	bin := buildBinary(t, dir)
	step("built the binary")

	id := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	topics := topic.Names{Raw: "raw." + id, DLQ: "dlq." + id, Agg: "agg." + id, Alerts: "alerts." + id, State: "state." + id}
	const partitions = 3
	topicFlags := []string{"--brokers", bootstrap, "--raw-topic", topics.Raw, "--dlq-topic", topics.DLQ, "--agg-topic", topics.Agg,
		"--alerts-topic", topics.Alerts, "--state-topic", topics.State}
	group := "processor-" + id
	// The producer stamps records with its event clock (--start 2026-01-01
	// below): with the default 7-day retention the broker's retention pass
	// would delete the raw topic mid-test.
	start(t, bin, dir, "topics", append([]string{"topics", "create", "--partitions", fmt.Sprint(partitions), "--retention", "87600h"}, topicFlags...)...).wait(t, time.Minute)

	// The schema goes in first, as in docker-compose: the Kafka engine
	// tables wait on the empty topics.
	p := DefaultParams()
	p.Database = "e2e"
	p.Brokers = brokers
	p.AggTopic, p.DLQTopic, p.AlertsTopic = topics.Agg, topics.DLQ, topics.Alerts
	p.ConsumerGroup = "clickhouse-" + id
	p.FlushInterval = 500 * time.Millisecond
	freshSchema(t, p)
	step("applied the schema with Kafka engine tables")

	start(t, bin, dir, "producer", append([]string{"producer", "--rate", "0", "--count", fmt.Sprint(e2eMessages),
		"--start", "2026-01-01T00:00:00Z", "--events-per-second", "10", "--metrics-addr", ""}, topicFlags...)...).wait(t, 3*time.Minute)
	step(fmt.Sprintf("produced %d raw messages", e2eMessages))

	procArgs := append([]string{"processor", "--group", group, "--metrics-addr", "", "--checkpoint-interval", "500ms"}, topicFlags...)
	// Crash the processor once its first outputs are out, then let a new
	// one resume from the checkpoint and finish.
	first := start(t, bin, dir, "processor-1", procArgs...)
	eventually(t, "first aggregates on the topic", 2*time.Minute, func() (bool, string) {
		n := topicSize(ctx, t, brokers, topics.Agg, partitions)
		return n > 20, fmt.Sprint(n, " aggregate records")
	})
	first.signal(t, syscall.SIGKILL)
	<-first.done
	step("SIGKILLed processor-1 mid-run")
	second := start(t, bin, dir, "processor-2", procArgs...)
	second.restored(t, partitions)
	eventually(t, "processor caught up", 5*time.Minute, func() (bool, string) { return caughtUp(ctx, brokers, group, topics.Raw, partitions) })
	second.signal(t, syscall.SIGTERM) // flushes the windows the watermark never closed
	second.wait(t, time.Minute)
	step("processor-2 consumed everything and flushed on SIGTERM")

	// Ground truth: the oracle over the raw log, partition by partition.
	logs := map[int32][]oracle.Message{}
	if err := kafkaio.ReadToEnd(ctx, brokers, topics.Raw, func(m kafka.Message) error {
		logs[int32(m.Partition)] = append(logs[int32(m.Partition)], oracle.Message{Offset: m.Offset, Value: m.Value, TimestampMs: m.Time.UnixMilli()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want, _ := expect(t, logs)
	visible := len(want.visibleDead())
	step(fmt.Sprintf("oracle: %d windows, %d counted, %d duplicates, %d dead letters (%d with an empty value, invisible to the Kafka engine)",
		len(want.windows), want.counted, want.duplicates, len(want.dead), len(want.dead)-visible))
	if want.counted+want.duplicates+int64(len(want.dead)) != e2eMessages {
		t.Fatalf("oracle accounts for %d messages, produced %d", want.counted+want.duplicates+int64(len(want.dead)), e2eMessages)
	}

	// The dispatcher is not part of this test: two alert records stand in
	// for it so the annotation query has something to show.
	aw := kafkaio.NewWriter(brokers, topics.Alerts)
	for _, a := range testAlerts(time.Now().UTC().Add(-10 * time.Minute)) {
		if err := aw.WriteMessages(ctx, kafka.Message{Key: a.key, Value: a.value}); err != nil {
			t.Fatal(err)
		}
	}
	aw.Close()

	latest, err := ReadLatestAggregates(ctx, brokers, topics.Agg)
	if err != nil {
		t.Fatal(err)
	}
	landed := func() (bool, string) {
		d, err := VerifyIn(ctx, c, p.Database, latest)
		if err != nil {
			return false, err.Error()
		}
		rows := mustQuery(t, c, "SELECT (SELECT count() FROM e2e.dead_letters_latest) AS dlq, (SELECT count() FROM e2e.alerts FINAL) AS alerts")
		var b strings.Builder
		d.Render(&b)
		ok := d.OK() && rows[0]["dlq"] == json.Number(fmt.Sprint(visible)) && rows[0]["alerts"] == json.Number("2")
		return ok, fmt.Sprintf("%v; %.500s", rows, b.String())
	}
	eventually(t, "ClickHouse has every aggregate, dead letter and alert", 3*time.Minute, landed)
	step("ClickHouse caught up with the topics")

	tr := grafanatest.TimeRange{From: time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), To: time.Now().Add(time.Hour)}
	before := runDashboards(t, c, p.Database, tr, true)
	checkNumbers(t, before, want)
	checkKafkaIngestion(t, before["streamlab / Pipeline / ClickHouse's Kafka ingestion (system.kafka_consumers) / A"], map[string]kafkaTable{
		"agg_window_queue":   {topics.Agg, topicSize(ctx, t, brokers, topics.Agg, partitions)},
		"dead_letters_queue": {topics.DLQ, int64(visible)},
		"alerts_queue":       {topics.Alerts, 2},
	})
	if t.Failed() {
		t.FailNow()
	}
	step(fmt.Sprintf("%d dashboard queries return the oracle's numbers", len(before)))

	// G3: deliver every aggregate and dead letter a second time, and crash
	// and restart the processor; no number may move.
	//
	// To know when the second delivery has really been consumed, a test-only
	// view audits every aggregate the Kafka engine reads from the copy point
	// on. A consumption pass writes only to the views that existed when it
	// started, so the view is attached while nothing is in flight: once
	// ClickHouse's own group has committed the end of the first delivery,
	// and with the Kafka table detached and attached again, every later pass
	// (and so every copy) goes through it.
	aggGroup, dlqGroup := p.ConsumerGroup+".agg", p.ConsumerGroup+".dlq"
	eventually(t, "ClickHouse committed the first delivery", 2*time.Minute, func() (bool, string) {
		return caughtUp(ctx, brokers, aggGroup, topics.Agg, partitions)
	})
	copyPoint := endOffsets(ctx, t, brokers, topics.Agg, partitions)
	mustExec(t, c, "CREATE TABLE e2e.test_agg_deliveries (p UInt64, o UInt64) ENGINE = MergeTree ORDER BY (p, o)")
	mustExec(t, c, "CREATE MATERIALIZED VIEW e2e.test_agg_deliveries_mv TO e2e.test_agg_deliveries AS SELECT _partition AS p, _offset AS o FROM e2e.agg_window_queue")
	mustExec(t, c, "DETACH TABLE e2e.agg_window_queue")
	mustExec(t, c, "ATTACH TABLE e2e.agg_window_queue")
	var fromCopy []string
	var firstDelivery int64
	for part, off := range copyPoint {
		fromCopy = append(fromCopy, fmt.Sprintf("(p = %d AND o >= %d)", part, off))
		firstDelivery += off
	}
	step(fmt.Sprintf("ClickHouse committed all %d first-delivery aggregates; audit view attached", firstDelivery))

	aggCopies := copyTopic(ctx, t, brokers, topics.Agg)
	dlqCopies := copyTopic(ctx, t, brokers, topics.DLQ)
	third := start(t, bin, dir, "processor-3", procArgs...)
	third.restored(t, partitions)
	third.signal(t, syscall.SIGKILL)
	<-third.done
	fourth := start(t, bin, dir, "processor-4", procArgs...)
	fourth.restored(t, partitions)
	eventually(t, "processor caught up again", 2*time.Minute, func() (bool, string) { return caughtUp(ctx, brokers, group, topics.Raw, partitions) })
	fourth.signal(t, syscall.SIGTERM)
	fourth.wait(t, time.Minute)
	step(fmt.Sprintf("re-produced %d aggregate and %d dead-letter records; processor SIGKILLed and restarted", aggCopies, dlqCopies))

	total := topicSize(ctx, t, brokers, topics.Agg, partitions)
	audit := "SELECT uniqExact(p, o) AS n, count() AS deliveries FROM e2e.test_agg_deliveries WHERE " + strings.Join(fromCopy, " OR ")
	eventually(t, "ClickHouse consumed the duplicate delivery", 3*time.Minute, func() (bool, string) {
		rows := mustQuery(t, c, audit)
		return rows[0]["n"] == json.Number(fmt.Sprint(total-firstDelivery)), fmt.Sprintf("%v of %d aggregate messages after the copy point", rows, total-firstDelivery)
	})
	// The Kafka engine commits a block's offsets after writing it to every
	// view, so committed end offsets mean everything read is stored.
	for _, g := range []struct{ group, topic string }{{aggGroup, topics.Agg}, {dlqGroup, topics.DLQ}} {
		eventually(t, "ClickHouse committed the end of "+g.topic, 2*time.Minute, func() (bool, string) {
			return caughtUp(ctx, brokers, g.group, g.topic, partitions)
		})
	}
	rows := mustQuery(t, c, "SELECT count() AS stored FROM e2e.aggregates")
	step(fmt.Sprintf("ClickHouse consumed %d aggregate messages (%v rows stored before merges)", total, rows[0]["stored"]))

	if ok, state := landed(); !ok {
		t.Errorf("after duplicate delivery and restarts ClickHouse no longer matches Kafka: %s", state)
	}
	after := runDashboards(t, c, p.Database, tr, true)
	checkNumbers(t, after, want)
	for name, rows := range before {
		if !livePanels[name] && !reflect.DeepEqual(after[name], rows) {
			t.Errorf("%s changed after duplicate delivery:\n before %.400v\n after  %.400v", name, rows, after[name])
		}
	}
	step("every dashboard query returns the same rows after duplicates, crash and restart")

	// The dead letters in ClickHouse are the processor's, byte for byte.
	var letters []*deadletter.Letter
	if err := kafkaio.ReadToEnd(ctx, brokers, topics.DLQ, func(m kafka.Message) error {
		l, err := deadletter.FromMessage(m)
		if err == nil {
			letters = append(letters, l)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, r := range mustQuery(t, c, "SELECT source_partition, source_offset, hex(value) AS v FROM e2e.dead_letters_latest") {
		stored[fmt.Sprint(r["source_partition"], "/", r["source_offset"])] = fmt.Sprint(r["v"])
	}
	for _, l := range letters {
		if len(l.Value) == 0 {
			continue // skipped by the Kafka engine, see visibleDead
		}
		k := fmt.Sprint(l.Partition, "/", l.Offset)
		if v, ok := stored[k]; !ok || !bytes.Equal([]byte(v), []byte(strings.ToUpper(fmt.Sprintf("%x", l.Value)))) {
			t.Errorf("dead letter %s: ClickHouse value differs from the DLQ's (%d bytes)", k, len(l.Value))
		}
	}
	step(fmt.Sprintf("%d dead-letter messages match ClickHouse byte for byte", len(letters)))
}

type kafkaTable struct {
	topic   string
	atLeast int64 // messages the table must have read
}

// checkKafkaIngestion checks the Pipeline panel built on
// system.kafka_consumers against what the test knows was consumed: one row
// per Kafka engine table, reading its topic, with at least as many
// messages read as ClickHouse holds from it.
func checkKafkaIngestion(t *testing.T, rows []map[string]any, want map[string]kafkaTable) {
	t.Helper()
	got := map[string]bool{}
	for _, r := range rows {
		table := fmt.Sprint(r["table"])
		w, ok := want[table]
		got[table] = true
		switch {
		case !ok:
			t.Errorf("Kafka ingestion panel: unexpected consumer %v", r)
		case fmt.Sprint(r["topic"]) != w.topic:
			t.Errorf("Kafka ingestion panel: %s reads %v, want %s", table, r["topic"], w.topic)
		case num(t, r, "messages_read") < w.atLeast:
			t.Errorf("Kafka ingestion panel: %s read %v messages, but ClickHouse holds %d from %s", table, r["messages_read"], w.atLeast, w.topic)
		}
		if num(t, r, "exceptions") > 0 {
			t.Logf("Kafka ingestion panel: %s reports %v exceptions, the last: %v", table, r["exceptions"], r["last_exception"])
		}
	}
	if len(got) != len(want) {
		t.Errorf("Kafka ingestion panel shows %v, want one row for each of %v", rows, slices.Sorted(maps.Keys(want)))
	}
}
