//go:build chdb

package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

// TestKafkaEngineTables applies the real schema (Kafka engine tables, not
// stand-ins) against an in-process kfake broker and checks that all three
// topics land: RawBLOB values, _headers, _key, _partition and _offset as the
// materialized views expect them.
func TestKafkaEngineTables(t *testing.T) {
	ctx := context.Background()
	topics := []string{"agg.window.v1", "events.dlq.v1", "alerts.v1"}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	p := DefaultParams()
	p.Database = "t_kafka"
	p.Brokers = []string{broker}
	p.ConsumerGroup = "t-kafka"
	p.FlushInterval = 200 * time.Millisecond
	c := freshSchema(t, p)
	rows := mustQuery(t, c, "SELECT engine FROM system.tables WHERE database = 't_kafka' AND name = 'agg_window_queue'")
	if len(rows) != 1 || rows[0]["engine"] != "Kafka" {
		t.Fatalf("agg_window_queue engine = %v, want Kafka", rows)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(r *kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	r1 := rec("2026-01-01T10:00:00.000Z", 1, 1, 10, map[string]int64{"EUR": 1000})
	r2 := rec("2026-01-01T10:00:00.000Z", 1, 2, 12, map[string]int64{"EUR": 1400})
	for _, r := range []aggregate.Record{r2, r1, r2} { // newest first, then an old one, then a duplicate
		b, _ := r.Marshal()
		produce(&kgo.Record{Topic: "agg.window.v1", Partition: 1, Key: []byte(r.Key()), Value: b})
	}
	l := &deadletter.Letter{Reason: event.InvalidJSON, Error: "bad", Topic: "events.raw.v1", Partition: 1, Offset: 3,
		FailedAt: time.Date(2026, 1, 1, 10, 0, 1, 0, time.UTC), Key: []byte("k"), Value: []byte{0xff, 0x00, 0xfe}}
	var hs []kgo.RecordHeader
	for _, h := range l.Headers() {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	produce(&kgo.Record{Topic: "events.dlq.v1", Partition: 0, Key: l.Key, Value: l.Value, Headers: hs})
	// The dead letter of an empty raw message has an empty value; the
	// Kafka engine skips such messages whole, headers and all.
	empty := *l
	empty.Offset, empty.Value = 4, []byte{}
	hs = nil
	for _, h := range empty.Headers() {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	produce(&kgo.Record{Topic: "events.dlq.v1", Partition: 0, Key: l.Key, Value: empty.Value, Headers: hs})
	for _, a := range testAlerts(time.Date(2026, 1, 1, 10, 2, 0, 0, time.UTC)) {
		produce(&kgo.Record{Topic: "alerts.v1", Partition: 0, Key: a.key, Value: a.value})
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		got := mustQuery(t, c, `SELECT
			(SELECT sum(num_messages_read) FROM system.kafka_consumers WHERE database = 't_kafka' AND table = 'agg_window_queue') AS read,
			(SELECT sum(num_messages_read) FROM system.kafka_consumers WHERE database = 't_kafka' AND table = 'dead_letters_queue') AS dlq_read,
			(SELECT count() FROM t_kafka.aggregates) AS aggs,
			(SELECT count() FROM t_kafka.dead_letters) AS dlq,
			(SELECT count() FROM t_kafka.alerts) AS alerts`)
		// optimize_on_insert may already collapse the three deliveries in one
		// block, so wait for all three to be read and at least one landed.
		if got[0]["read"] == json.Number("3") && got[0]["aggs"] != json.Number("0") && got[0]["dlq_read"] == json.Number("2") && got[0]["dlq"] == json.Number("1") && got[0]["alerts"] == json.Number("2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %v; consumers: %v", got,
				mustQuery(t, c, "SELECT table, num_messages_read, exceptions.text FROM system.kafka_consumers WHERE database = 't_kafka'"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * p.FlushInterval) // anything read is written within a flush interval
	assertJSONRows(t, mustQuery(t, c, "SELECT source_partition, revision, events, revenue_minor FROM t_kafka.aggregates_latest"),
		[]string{`{"source_partition":1,"revision":2,"events":12,"revenue_minor":{"EUR":1400}}`})
	assertJSONRows(t, mustQuery(t, c, "SELECT reason, source_offset, hex(value) AS v, key, failed_at FROM t_kafka.dead_letters_latest"),
		[]string{`{"reason":"invalid_json","source_offset":3,"v":"FF00FE","key":"k","failed_at":"2026-01-01 10:00:01.000"}`})
	// Of two copies of the same revision the last delivered one stays; it
	// does not matter which, since equal revisions are identical records.
	assertJSONRows(t, mustQuery(t, c, "SELECT kafka_partition, kafka_offset FROM t_kafka.aggregates FINAL"),
		[]string{`{"kafka_partition":1,"kafka_offset":2}`})
	if n := mustQuery(t, c, "SELECT count() AS n FROM t_kafka.ingest_rejects")[0]["n"]; n != json.Number("0") {
		t.Errorf("ingest_rejects = %v, want 0", n)
	}
}

// TestKafkaEngineReadsFromEarliest: records produced before the schema is
// applied (in compose the processor may run before clickhouse-setup) are not
// lost: a new Kafka engine consumer group starts at the earliest offset.
func TestKafkaEngineReadsFromEarliest(t *testing.T) {
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "agg.window.v1", "events.dlq.v1", "alerts.v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 5; i++ {
		r := rec(fmt.Sprintf("2026-01-01T10:0%d:00.000Z", i), 0, 1, 10, map[string]int64{"EUR": 100})
		b, _ := r.Marshal()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "agg.window.v1", Key: []byte(r.Key()), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := DefaultParams()
	p.Database = "t_earliest"
	p.Brokers = []string{broker}
	p.ConsumerGroup = "t-earliest"
	p.FlushInterval = 200 * time.Millisecond
	c := freshSchema(t, p) // only now: the group is new
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := mustQuery(t, c, "SELECT count() AS n FROM t_earliest.aggregates_latest")[0]["n"]
		if n == json.Number("5") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s ClickHouse has %v of the 5 records produced before the schema", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
