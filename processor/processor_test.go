package processor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
	"github.com/streamlab/streamlab/processor"
	"github.com/streamlab/streamlab/producer"
)

// This is the fast, in-process check of the Kafka adapter (franz-go's kfake
// serving kafka-go over loopback). The same claims are proven on a real
// Apache Kafka broker, with SIGKILLed processes, by the e2e suite.

func startCluster(t *testing.T, partitions int) ([]string, topic.Names) {
	t.Helper()
	brokers, topics := kafkatest.Start(t, partitions)
	// Creating the topics again is a no-op.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kafkaio.CreateTopics(ctx, brokers, topic.Specs(topics, partitions, time.Hour)); err != nil {
		t.Fatal(err)
	}
	return brokers, topics
}

func produce(t *testing.T, brokers []string, topic string, seed uint64, n int64) {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Seed = seed
	cfg.Malformed, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate = 0.03, 0.04, 0.02, 0.04
	if _, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: topic, Gen: cfg, Count: n}); err != nil {
		t.Fatal(err)
	}
}

// runProcessor runs a replica until it has handled `want` messages in
// total (across restarts, per the shared metrics), then stops it.
func runProcessor(t *testing.T, brokers []string, topics topic.Names, m *processor.Metrics, flush bool, stopAfter func() bool) {
	t.Helper()
	cfg := processor.DefaultConfig()
	cfg.Brokers, cfg.Topics, cfg.Group, cfg.Metrics = brokers, topics, "g", m
	cfg.CheckpointInterval, cfg.CheckpointEvery, cfg.MaxBatch = 100*time.Millisecond, 500, 300
	cfg.FlushOnShutdown, cfg.SessionTimeout = flush, 6*time.Second
	p, err := processor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.After(60 * time.Second)
	for !stopAfter() {
		select {
		case err := <-done:
			t.Fatalf("processor exited early: %v", err)
		case <-deadline:
			cancel()
			t.Fatal("processor did not get there in 60 s")
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("processor: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("processor did not stop")
	}
}

func handled(m *processor.Metrics) int64 {
	var n float64
	for _, o := range []string{"counted", "duplicate", "oversized", "invalid_json", "unsupported_schema", "schema_violation", "future_event", "late_event"} {
		n += testutil.ToFloat64(m.Messages.WithLabelValues(o))
	}
	return int64(n)
}

type result struct {
	final map[string][]byte // window/partition -> latest revision
	dlq   map[string]string // partition/offset -> reason
}

func readResult(t *testing.T, brokers []string, topics topic.Names) result {
	t.Helper()
	ctx := context.Background()
	r := result{final: map[string][]byte{}, dlq: map[string]string{}}
	rev := map[string]int64{}
	if err := kafkaio.ReadToEnd(ctx, brokers, topics.Agg, func(m kafka.Message) error {
		rec, err := aggregate.Unmarshal(m.Value)
		if err != nil {
			return err
		}
		if rec.Revision > rev[rec.Key()] {
			rev[rec.Key()], r.final[rec.Key()] = rec.Revision, m.Value
		} else if rec.Revision == rev[rec.Key()] && string(r.final[rec.Key()]) != string(m.Value) {
			return fmt.Errorf("two different records for %s revision %d", rec.Key(), rec.Revision)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := kafkaio.ReadToEnd(ctx, brokers, topics.DLQ, func(m kafka.Message) error {
		l, err := deadletter.FromMessage(m)
		if err != nil {
			return err
		}
		r.dlq[fmt.Sprintf("%d/%d", l.Partition, l.Offset)] = string(l.Reason)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// runOracle runs the oracle over raw partition p as the broker stored it,
// the records keep accepts (nil: all); it returns the result and how many
// records it read.
func runOracle(t *testing.T, brokers []string, raw string, p int, cfg oracle.Config, keep func(kafka.Message) bool) (oracle.Result, int) {
	t.Helper()
	var msgs []oracle.Message
	if err := kafkaio.ReadPartitionToEnd(context.Background(), brokers, raw, p, func(m kafka.Message) error {
		if keep == nil || keep(m) {
			msgs = append(msgs, oracle.Message{Offset: m.Offset, Value: m.Value, TimestampMs: m.Time.UnixMilli()})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return oracle.Run(cfg, int32(p), msgs), len(msgs)
}

func expected(t *testing.T, brokers []string, topics topic.Names, partitions int) (result, int64) {
	t.Helper()
	exp := result{final: map[string][]byte{}, dlq: map[string]string{}}
	var total int64
	for p := 0; p < partitions; p++ {
		res, n := runOracle(t, brokers, topics.Raw, p, oracle.DefaultConfig(), nil)
		total += int64(n)
		for ws, b := range res.Final {
			exp.final[fmt.Sprintf("%s/%d", ws, p)] = b
		}
		for _, d := range res.DeadLetters {
			exp.dlq[fmt.Sprintf("%d/%d", p, d.Offset)] = d.Reason
		}
	}
	return exp, total
}

func compare(t *testing.T, got, want result) {
	t.Helper()
	if len(got.final) != len(want.final) {
		t.Fatalf("%d windows on the aggregate topic, oracle %d", len(got.final), len(want.final))
	}
	for k, w := range want.final {
		if ok, diff := oracle.EqualJSON(got.final[k], w); !ok {
			t.Fatalf("window %s: %s\n got %s\nwant %s", k, diff, got.final[k], w)
		}
	}
	if len(got.dlq) != len(want.dlq) {
		t.Fatalf("%d dead letters, oracle %d", len(got.dlq), len(want.dlq))
	}
	for k, w := range want.dlq {
		if got.dlq[k] != w {
			t.Fatalf("dead letter %s: %q, oracle %q", k, got.dlq[k], w)
		}
	}
}

func TestProcessorMatchesOracle(t *testing.T) {
	brokers, topics := startCluster(t, 3)
	produce(t, brokers, topics.Raw, 11, 6000)
	m := processor.NewMetrics(prometheus.NewRegistry())
	runProcessor(t, brokers, topics, m, true, func() bool { return handled(m) >= 6000 })
	want, total := expected(t, brokers, topics, 3)
	if total != 6000 {
		t.Fatalf("raw topic holds %d messages", total)
	}
	compare(t, readResult(t, brokers, topics), want)
}

// TestProcessorRestartsResumeExactly produces in bursts and stops the
// replica between and during them without flushing (a restart must not
// change anything); the final result must equal the oracle's.
func TestProcessorRestartsResumeExactly(t *testing.T) {
	brokers, topics := startCluster(t, 3)
	m := processor.NewMetrics(prometheus.NewRegistry())
	for i := uint64(0); i < 4; i++ {
		produceFrom(t, brokers, topics.Raw, 12, int64(i)*1500, 1500)
		// Stopped as soon as it has handled anything: mid-burst.
		base := handled(m)
		runProcessor(t, brokers, topics, m, false, func() bool { return handled(m) > base })
		runProcessor(t, brokers, topics, m, false, func() bool { return caughtUp(t, brokers, topics) })
	}
	// The final stop flushes: wait until this replica owns and restored all
	// three partitions, or there is nothing of its own to flush.
	restored := restores(m)
	runProcessor(t, brokers, topics, m, true, func() bool { return restores(m) >= restored+3 && caughtUp(t, brokers, topics) })
	want, total := expected(t, brokers, topics, 3)
	if total != 6000 {
		t.Fatalf("raw topic holds %d messages", total)
	}
	compare(t, readResult(t, brokers, topics), want)
	if r := testutil.ToFloat64(m.Restores.WithLabelValues("checkpoint")); r < 6 {
		t.Fatalf("only %v restores from a checkpoint", r)
	}
}

// produceFrom writes messages [skip, skip+n) of the seed's sequence, so
// bursts concatenate into one generated log.
func produceFrom(t *testing.T, brokers []string, topic string, seed uint64, skip, n int64) {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Seed = seed
	cfg.Malformed, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate = 0.03, 0.04, 0.02, 0.04
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < skip; i++ {
		g.Next()
	}
	w := kafkaio.NewWriter(brokers, topic)
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		m := g.Next()
		msgs[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.ProducedAt}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func restores(m *processor.Metrics) float64 {
	return testutil.ToFloat64(m.Restores.WithLabelValues("checkpoint")) + testutil.ToFloat64(m.Restores.WithLabelValues("empty"))
}

func caughtUp(t *testing.T, brokers []string, topics topic.Names) bool {
	return caughtUpGroup(brokers, topics, "g", 3)
}

// caughtUpGroup reports whether group has committed the end offset of every
// raw partition: it commits only after the checkpoint covering them.
func caughtUpGroup(brokers []string, topics topic.Names, group string, partitions int) bool {
	ctx := context.Background()
	end, err := kafkaio.EndOffsets(ctx, brokers, topics.Raw, partitions)
	if err != nil {
		return false
	}
	got, err := kafkaio.CommittedOffsets(ctx, brokers, group, topics.Raw, partitions)
	if err != nil {
		return false
	}
	for p, e := range end {
		if got[p] < e {
			return false
		}
	}
	return true
}

// TestHugeBadMessagesReachTheDLQ: many values near the raw topic's 1 MiB
// limit must not make a DLQ batch the broker rejects (G5: no input stalls
// the processor).
func TestHugeBadMessagesReachTheDLQ(t *testing.T) {
	brokers, topics := startCluster(t, 1)
	w := kafkaio.NewWriter(brokers, topics.Raw)
	defer w.Close()
	const n = 12
	for i := 0; i < n; i++ {
		v := make([]byte, 900<<10)
		for j := range v {
			v[j] = byte(i + j)
		}
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("k"), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	m := processor.NewMetrics(prometheus.NewRegistry())
	runProcessor(t, brokers, topics, m, true, func() bool { return handled(m) >= n })
	if got := len(readResult(t, brokers, topics).dlq); got != n {
		t.Fatalf("%d of %d huge messages in the DLQ", got, n)
	}
}

// TestOtherWindowSettingsFailFast: a replica configured with other window
// settings than the saved state stops with an error saying what to do,
// instead of retrying forever.
func TestOtherWindowSettingsFailFast(t *testing.T) {
	brokers, topics := startCluster(t, 1)
	produce(t, brokers, topics.Raw, 31, 500)
	m := processor.NewMetrics(prometheus.NewRegistry())
	runProcessor(t, brokers, topics, m, true, func() bool { return handled(m) >= 500 })
	cfg := window.DefaultConfig()
	cfg.SizeMs = 30_000
	pcfg := processor.DefaultConfig()
	pcfg.Brokers, pcfg.Topics, pcfg.Group, pcfg.Window = brokers, topics, "g", cfg
	pcfg.SessionTimeout, pcfg.Metrics = 6*time.Second, processor.NewMetrics(prometheus.NewRegistry())
	p, err := processor.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = p.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "--state-topic") || ctx.Err() != nil {
		t.Fatalf("Run = %v (ctx %v), want a configuration error", err, ctx.Err())
	}
}
