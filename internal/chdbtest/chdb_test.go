//go:build chdb

// These tests run the real ClickHouse engine and need the ~570 MB libchdb:
//
//	eval "$(scripts/chdb/install.sh)" && export STREAMLAB_LIBCHDB
//	go test -tags chdb ./internal/chdbtest/
package chdbtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func conn(t testing.TB) *Conn { return Shared(t) }

func TestMain(m *testing.M) { Main(m) }

func exec(t *testing.T, c *Conn, sql string) {
	t.Helper()
	if err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("Exec(%s): %v", sql, err)
	}
}

func queryJSON(t *testing.T, c *Conn, sql string) []map[string]any {
	t.Helper()
	rows, err := c.QueryJSON(context.Background(), sql)
	if err != nil {
		t.Fatalf("QueryJSON(%s): %v", sql, err)
	}
	return rows
}

// jsonRows decodes the expectation the way QueryJSON decodes results, so
// tests can state rows as JSON text.
func jsonRows(t *testing.T, lines ...string) []map[string]any {
	t.Helper()
	rows := []map[string]any{}
	for _, l := range lines {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			t.Fatalf("bad expectation %s: %v", l, err)
		}
		rows = append(rows, row)
	}
	return rows
}

func assertRows(t *testing.T, c *Conn, sql string, want ...string) {
	t.Helper()
	got := queryJSON(t, c, sql)
	if w := jsonRows(t, want...); !reflect.DeepEqual(got, w) {
		t.Errorf("%s\n got  %v\n want %v", sql, got, w)
	}
}

func TestVersionAndTrivialQuery(t *testing.T) {
	c := conn(t)
	if v := c.Version(); !strings.HasPrefix(v, "26.") {
		t.Errorf("Version() = %q, want 26.x", v)
	}
	assertRows(t, c, "SELECT 1 AS one, 'x' AS s, toUInt64(18446744073709551615) AS big, toInt64(-9007199254740993) AS neg, 1.5 AS f",
		`{"one":1,"s":"x","big":18446744073709551615,"neg":-9007199254740993,"f":1.5}`)
	if rows := queryJSON(t, c, "SELECT number FROM numbers(0)"); rows == nil || len(rows) != 0 {
		t.Errorf("empty result = %#v, want empty non-nil slice", rows)
	}
}

func TestQueryFormats(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	for _, tt := range []struct{ sql, format, want string }{
		{"SELECT 1, 'a'", "CSV", "1,\"a\"\n"},
		{"SELECT 1, 'a'", "", "1\ta\n"}, // empty format means TabSeparated
		{"SELECT 1 FORMAT CSV", "JSONEachRow", "1\n"},
		{"SELECT 1", "Null", ""},
	} {
		out, err := c.Query(ctx, tt.sql, tt.format)
		if err != nil || string(out) != tt.want {
			t.Errorf("Query(%q, %q) = %q, %v; want %q", tt.sql, tt.format, out, err, tt.want)
		}
	}
}

func TestQueryError(t *testing.T) {
	c := conn(t)
	_, err := c.QueryJSON(context.Background(), "SELECT * FROM no_such_db.no_such_table")
	var chErr *Error
	if !errors.As(err, &chErr) || !strings.Contains(chErr.Msg, "UNKNOWN_") {
		t.Fatalf("err = %v, want *Error naming UNKNOWN_DATABASE/TABLE", err)
	}
	// The connection stays usable after an engine error.
	assertRows(t, c, "SELECT 2 AS two", `{"two":2}`)
}

func TestContext(t *testing.T) {
	c := conn(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Exec(canceled, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec with canceled ctx = %v, want context.Canceled", err)
	}

	// A running statement cannot be interrupted, but the caller is released
	// at its deadline and the connection is usable once the statement ends.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Exec(ctx, "SELECT sleep(1)")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 700*time.Millisecond {
		t.Fatalf("Exec(sleep 1s, 100ms deadline) = %v after %v, want DeadlineExceeded promptly", err, time.Since(start))
	}
	assertRows(t, c, "SELECT 3 AS three", `{"three":3}`)
}

// TestAggregateUpsertSchema exercises the shape the ClickHouse part relies
// on: raw JSON lands in a Null table, a materialized view extracts typed
// columns (maps included) into a ReplacingMergeTree keyed by window and
// partition and versioned by revision, and readers see the newest revision
// through FINAL or argMax, however often a record was delivered.
func TestAggregateUpsertSchema(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	schema := `
		DROP DATABASE IF EXISTS agg;
		CREATE DATABASE agg;
		-- Landing table: the Kafka engine table takes this place in production.
		CREATE TABLE agg.raw (raw String) ENGINE = Null;
		CREATE TABLE agg.window
		(
			window_start     DateTime64(3, 'UTC'),
			source_partition Int32,
			revision         UInt32,
			events           UInt64,
			revenue_minor    Map(String, Int64)
		)
		ENGINE = ReplacingMergeTree(revision)
		ORDER BY (window_start, source_partition);
		/* The view sees each inserted block, never the Null table's contents; a ';' here is harmless. */
		CREATE MATERIALIZED VIEW agg.window_mv TO agg.window AS
		SELECT
			parseDateTime64BestEffort(JSONExtractString(raw, 'window_start'), 3, 'UTC') AS window_start,
			JSONExtractInt(raw, 'source_partition')                                      AS source_partition,
			JSONExtractUInt(raw, 'revision')                                             AS revision,
			JSONExtractUInt(raw, 'events')                                               AS events,
			JSONExtract(raw, 'revenue_minor', 'Map(String, Int64)')                      AS revenue_minor
		FROM agg.raw;
	`
	if err := c.ExecScript(ctx, schema); err != nil {
		t.Fatal(err)
	}

	rec := func(start string, part, rev, events int, rev0 string) string {
		r, _ := json.Marshal(map[string]any{"raw": fmt.Sprintf(
			`{"window_start":%q,"source_partition":%d,"revision":%d,"events":%d,"revenue_minor":%s}`,
			start, part, rev, events, rev0)})
		return string(r)
	}
	w1, w2 := "2026-01-01T10:00:00.000Z", "2026-01-01T10:01:00.000Z"
	// Revision 2 of w1/p0 arrives before a redelivered revision 1: the
	// version column, not arrival order, must decide.
	batches := []string{
		rec(w1, 0, 1, 10, `{"EUR":1000}`) + "\n" + rec(w1, 1, 1, 4, `{}`),
		rec(w1, 0, 2, 12, `{"EUR":1500,"USD":700}`) + "\n" + rec(w2, 0, 1, 3, `{"USD":250}`),
		rec(w1, 0, 1, 10, `{"EUR":1000}`), // duplicate delivery of an old revision
	}
	for _, b := range batches {
		exec(t, c, "INSERT INTO agg.raw FORMAT JSONEachRow "+b)
	}

	assertRows(t, c, "SELECT count() AS n FROM agg.raw", `{"n":0}`)
	want := []string{
		`{"window_start":"2026-01-01 10:00:00.000","source_partition":0,"revision":2,"events":12,"revenue_minor":{"EUR":1500,"USD":700}}`,
		`{"window_start":"2026-01-01 10:00:00.000","source_partition":1,"revision":1,"events":4,"revenue_minor":{}}`,
		`{"window_start":"2026-01-01 10:01:00.000","source_partition":0,"revision":1,"events":3,"revenue_minor":{"USD":250}}`,
	}
	assertRows(t, c, "SELECT * FROM agg.window FINAL ORDER BY window_start, source_partition", want...)
	// Aliases must not reuse column names: "max(revision) AS revision" would
	// make argMax(..., revision) refer to the aggregate (ILLEGAL_AGGREGATION).
	assertRows(t, c, `
		SELECT window_start, source_partition, rev AS revision, ev AS events, rm AS revenue_minor
		FROM (
			SELECT window_start, source_partition, max(revision) AS rev,
			       argMax(events, revision) AS ev, argMax(revenue_minor, revision) AS rm
			FROM agg.window GROUP BY window_start, source_partition
		)
		ORDER BY window_start, source_partition`, want...)
	// Map columns aggregate per key, as a revenue-by-currency panel would.
	assertRows(t, c, "SELECT sumMap(revenue_minor) AS revenue FROM agg.window FINAL", `{"revenue":{"EUR":1500,"USD":950}}`)

	exec(t, c, "OPTIMIZE TABLE agg.window FINAL")
	assertRows(t, c, "SELECT count() AS n, sum(events) AS events FROM agg.window", `{"n":3,"events":19}`)
}

// TestMergeTreeSourceView covers a materialized view whose source is a
// MergeTree table (which keeps the rows) rather than a Null table.
func TestMergeTreeSourceView(t *testing.T) {
	c := conn(t)
	if err := c.ExecScript(context.Background(), `
		DROP DATABASE IF EXISTS mt;
		CREATE DATABASE mt;
		CREATE TABLE mt.dlq (reason LowCardinality(String), source_offset Int64) ENGINE = MergeTree ORDER BY source_offset;
		CREATE TABLE mt.latest (reason String, source_offset Int64, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY reason;
		CREATE MATERIALIZED VIEW mt.mv TO mt.latest AS SELECT reason, source_offset, toUInt64(source_offset) AS version FROM mt.dlq;
		INSERT INTO mt.dlq FORMAT JSONEachRow {"reason":"late_event","source_offset":7} {"reason":"invalid_json","source_offset":3} {"reason":"late_event","source_offset":9};
	`); err != nil {
		t.Fatal(err)
	}
	assertRows(t, c, "SELECT count() AS n FROM mt.dlq", `{"n":3}`)
	assertRows(t, c, "SELECT reason, source_offset FROM mt.latest FINAL ORDER BY reason",
		`{"reason":"invalid_json","source_offset":3}`, `{"reason":"late_event","source_offset":9}`)
}

// TestMultiStatement pins down chDB 26.7 behaviour ExecScript is built on:
// one call runs several statements and stops at the first failure, but
// inline INSERT data swallows the statements that follow it.
func TestMultiStatement(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	exec(t, c, "DROP DATABASE IF EXISTS ms; CREATE DATABASE ms; CREATE TABLE ms.t (x Int64) ENGINE = MergeTree ORDER BY x")

	err := c.Exec(ctx, "INSERT INTO ms.t VALUES (1); SELECT no_such_column FROM ms.t; INSERT INTO ms.t VALUES (2)")
	if err == nil {
		t.Fatal("multi-statement with a bad statement succeeded")
	}
	assertRows(t, c, "SELECT groupArray(x) AS xs FROM ms.t", `{"xs":[1]}`)

	script := "INSERT INTO ms.t FORMAT JSONEachRow {\"x\":10}\n{\"x\":11}\n;\nINSERT INTO ms.t VALUES (12)"
	if err := c.Exec(ctx, script); err == nil {
		t.Fatal("inline data followed by a statement in one call succeeded; ExecScript may no longer be needed")
	}
	if err := c.ExecScript(ctx, script); err != nil {
		t.Fatal(err)
	}
	assertRows(t, c, "SELECT arraySort(groupArray(x)) AS xs FROM ms.t", `{"xs":[1,10,11,12]}`)

	err = c.ExecScript(ctx, "SELECT 1; SELECT broken(; SELECT 3")
	if err == nil || !strings.Contains(err.Error(), "statement 2 (SELECT broken()") {
		t.Errorf("ExecScript error = %v, want it to name statement 2", err)
	}
}

func TestConcurrentQueries(t *testing.T) {
	c := conn(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				n := g*1000 + i
				rows, err := c.QueryJSON(context.Background(), fmt.Sprintf("SELECT %d AS n, sum(number) AS s FROM numbers(%d)", n, i+1))
				if err != nil {
					errs <- err
					return
				}
				wantS := json.Number(fmt.Sprint(i * (i + 1) / 2))
				if len(rows) != 1 || rows[0]["n"] != json.Number(fmt.Sprint(n)) || rows[0]["s"] != wantS {
					errs <- fmt.Errorf("query %d: got %v", n, rows)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSecondConnection(t *testing.T) {
	c := conn(t)
	exec(t, c, "CREATE DATABASE IF NOT EXISTS second")
	lib := os.Getenv("STREAMLAB_LIBCHDB")

	other, err := Open(lib, t.TempDir())
	if err == nil {
		other.Close()
		t.Fatal("Open on a second data dir succeeded while the engine runs on another")
	}

	c2, err := Open(lib, c.DataDir())
	if err != nil {
		t.Fatalf("second connection to the same dir: %v", err)
	}
	assertRows(t, c2, "SELECT name FROM system.databases WHERE name = 'second'", `{"name":"second"}`)
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c2.Exec(context.Background(), "SELECT 1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Exec on closed conn = %v, want ErrClosed", err)
	}
	// Closing one of two connections leaves the engine running.
	assertRows(t, c, "SELECT 4 AS four", `{"four":4}`)
}

// TestGoPanicsSurviveEngine guards the chdb_set_signal_handlers_enabled(0)
// call in Open: with ClickHouse's handlers installed, a nil dereference in Go
// code hangs the process in the engine's crash handler instead of panicking.
func TestGoPanicsSurviveEngine(t *testing.T) {
	c := conn(t)
	exec(t, c, "SELECT count() FROM numbers(1000000)")
	recovered := func() (r any) {
		defer func() { r = recover() }()
		var m *struct{ next *int }
		return *m.next
	}()
	if err, ok := recovered.(error); !ok || !strings.Contains(err.Error(), "nil pointer dereference") {
		t.Fatalf("recovered %v, want a nil pointer dereference panic", recovered)
	}
}

// TestKafkaEngine runs ClickHouse's Kafka table engine inside chDB against
// an in-process kfake broker: CREATE works, its background consumer runs,
// and a materialized view lands the messages, headers and metadata included.
func TestKafkaEngine(t *testing.T) {
	c := conn(t)
	ctx := context.Background()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "agg.window.v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	producer, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i, v := range []string{
		`{"k":"w1","revision":1,"events":5}`,
		`{"k":"w1","revision":2,"events":6}`,
		`{"k":"w2","revision":1,"events":1}`,
	} {
		r := &kgo.Record{Topic: "agg.window.v1", Partition: int32(i % 2), Key: []byte(fmt.Sprint("key", i)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "reason", Value: []byte(fmt.Sprint("r", i))}}}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	if err := c.ExecScript(ctx, fmt.Sprintf(`
		DROP DATABASE IF EXISTS kfk;
		CREATE DATABASE kfk;
		CREATE TABLE kfk.queue (raw String) ENGINE = Kafka
		SETTINGS kafka_broker_list = '%s', kafka_topic_list = 'agg.window.v1',
		         kafka_group_name = 'clickhouse', kafka_format = 'JSONAsString',
		         kafka_flush_interval_ms = 200;
		CREATE TABLE kfk.window (k String, revision UInt32, events UInt64)
		ENGINE = ReplacingMergeTree(revision) ORDER BY k;
		CREATE MATERIALIZED VIEW kfk.window_mv TO kfk.window AS
		SELECT JSONExtractString(raw, 'k') AS k, JSONExtractUInt(raw, 'revision') AS revision,
		       JSONExtractUInt(raw, 'events') AS events
		FROM kfk.queue;
		-- A plain MergeTree keeps every delivery, so no merge can hide one.
		CREATE TABLE kfk.deliveries (key String, part UInt64, off UInt64, header_names Array(String), header_values Array(String))
		ENGINE = MergeTree ORDER BY (part, off);
		CREATE MATERIALIZED VIEW kfk.deliveries_mv TO kfk.deliveries AS
		SELECT _key AS key, _partition AS part, _offset AS off, _headers.name AS header_names, _headers.value AS header_values
		FROM kfk.queue;
	`, broker)); err != nil {
		t.Fatal(err)
	}
	// Stop the consumer before the broker goes away so it does not spin on
	// reconnects for the rest of the test binary.
	defer func() {
		if err := c.Exec(ctx, "DROP DATABASE kfk SYNC"); err != nil {
			t.Errorf("drop kfk: %v", err)
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := queryJSON(t, c, "SELECT count() AS n FROM kfk.deliveries")
		if rows[0]["n"] == json.Number("3") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Kafka engine landed %v rows after 30s; consumers: %v", rows[0]["n"],
				queryJSON(t, c, "SELECT num_messages_read, exceptions.text FROM system.kafka_consumers WHERE database = 'kfk'"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	assertRows(t, c, "SELECT k, revision, events FROM kfk.window FINAL ORDER BY k",
		`{"k":"w1","revision":2,"events":6}`, `{"k":"w2","revision":1,"events":1}`)
	assertRows(t, c, "SELECT key, part, off, header_names, header_values FROM kfk.deliveries ORDER BY key",
		`{"key":"key0","part":0,"off":0,"header_names":["reason"],"header_values":["r0"]}`,
		`{"key":"key1","part":1,"off":0,"header_names":["reason"],"header_values":["r1"]}`,
		`{"key":"key2","part":0,"off":1,"header_names":["reason"],"header_values":["r2"]}`)
}

func BenchmarkTrivialSelect(b *testing.B) {
	c := conn(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Query(ctx, "SELECT 1", "TabSeparated"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrivialQueryJSON(b *testing.B) {
	c := conn(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.QueryJSON(ctx, "SELECT 1 AS one"); err != nil {
			b.Fatal(err)
		}
	}
}
