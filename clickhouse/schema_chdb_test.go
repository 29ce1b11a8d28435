//go:build chdb

package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/chdbtest"
)

func objects(t *testing.T, db DB, database string) []string {
	t.Helper()
	var out []string
	for _, r := range mustQuery(t, db, "SELECT name, engine FROM system.tables WHERE database = '"+database+"' ORDER BY name") {
		out = append(out, fmt.Sprint(r["name"], " ", r["engine"]))
	}
	return out
}

func TestApplyIsIdempotent(t *testing.T) {
	p := standIn("t_apply")
	c := freshSchema(t, p)
	ctx := context.Background()
	first := objects(t, c, p.Database)
	applied := mustQuery(t, c, "SELECT version, file FROM t_apply.schema_migrations FINAL ORDER BY version")

	if err := Apply(ctx, c, p); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if second := objects(t, c, p.Database); !reflect.DeepEqual(first, second) {
		t.Errorf("objects changed on re-apply:\n first  %v\n second %v", first, second)
	}
	if again := mustQuery(t, c, "SELECT version, file FROM t_apply.schema_migrations ORDER BY version"); !reflect.DeepEqual(again, applied) {
		t.Errorf("schema_migrations after re-apply = %v, want %v (one row per file)", again, applied)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", len(applied), len(ms))
	}
	for _, want := range []string{"aggregates ReplacingMergeTree", "dead_letters ReplacingMergeTree", "alerts ReplacingMergeTree",
		"agg_window_queue Null", "dead_letters_queue Null", "alerts_queue Null", "window_totals View", "agg_window_mv MaterializedView"} {
		if !slices.Contains(first, want) {
			t.Errorf("schema lacks %q; has %v", want, first)
		}
	}

	// Dropping an object and applying again heals the schema.
	mustExec(t, c, "DROP VIEW t_apply.window_funnel")
	if err := Apply(ctx, c, p); err != nil {
		t.Fatal(err)
	}
	if healed := objects(t, c, p.Database); !reflect.DeepEqual(first, healed) {
		t.Errorf("objects after heal = %v, want %v", healed, first)
	}
}

func TestApplyRefusesAChangedFile(t *testing.T) {
	p := standIn("t_changed")
	c := freshSchema(t, p)
	mustExec(t, c, "INSERT INTO t_changed.schema_migrations (version, file, checksum) VALUES (2, '002_dead_letters.sql', 'feedface')")
	err := Apply(context.Background(), c, p)
	if err == nil || !strings.Contains(err.Error(), "002_dead_letters.sql changed after it was applied") {
		t.Fatalf("Apply with a changed file = %v, want a refusal naming 002_dead_letters.sql", err)
	}
}

// The Go splitter must cut the schema exactly like chDB's fuller one.
func TestSplitterAgreesWithChDB(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	data, err := standIn("x").data()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		stmts, err := renderFile(m, data)
		if err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, s := range stmts {
			ours = append(ours, s.SQL)
		}
		text := strings.Join(ours, ";\n")
		theirs, err := chdbtest.SplitStatements(text)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ours, theirs) {
			t.Errorf("%s: splitters disagree: ours %d statements, chdb %d", m.file, len(ours), len(theirs))
		}
	}
}

// aggMsg wraps an aggregate record as a message on the aggregate topic.
func aggMsg(t testing.TB, r *aggregate.Record, offset uint64) kafkaMsg {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return kafkaMsg{topic: "agg.window.v1", partition: uint64(r.SourcePartition), offset: offset, key: []byte(r.Key()), value: b}
}

func rec(start string, part int32, rev, events int64, revenue map[string]int64) aggregate.Record {
	return aggregate.Record{
		SchemaVersion: 1, WindowStart: start, WindowEnd: strings.Replace(start, ":00.000Z", ":59.999Z", 1),
		SourcePartition: part, Revision: rev, Events: events, Users: events / 2, Sessions: events / 3,
		EventsByType: map[string]int64{"page_view": events}, RevenueMinor: revenue,
		Funnel: map[string]int64{"product_view": 1}, ProductViews: map[string]int64{"p1": rev},
	}
}

// Duplicates and revisions arriving out of order must not change a total;
// a window is only as new as its newest revision in ClickHouse.
func TestAggregatesDuplicatesAndOutOfOrderRevisions(t *testing.T) {
	const w1, w2 = "2026-01-01T10:00:00.000Z", "2026-01-01T10:01:00.000Z"
	records := []aggregate.Record{
		rec(w1, 0, 1, 10, map[string]int64{"EUR": 1000}),
		rec(w1, 0, 2, 12, map[string]int64{"EUR": 1500, "JPY": 700}),
		rec(w1, 0, 3, 13, map[string]int64{"EUR": 1500, "JPY": 900}),
		rec(w1, 1, 1, 4, nil),
		rec(w1, 2, 1, 6, map[string]int64{"USD": 250}),
		rec(w2, 0, 1, 3, map[string]int64{"USD": 250}),
		rec(w2, 1, 1, 5, nil),
		rec(w2, 1, 2, 7, map[string]int64{"GBP": 99}),
	}
	wantTotals := []string{
		`{"window_start":"2026-01-01 10:00:00.000","partitions":3,"emissions":5,"events":23,"revenue_minor":{"EUR":1500,"JPY":900,"USD":250}}`,
		`{"window_start":"2026-01-01 10:01:00.000","partitions":2,"emissions":3,"events":10,"revenue_minor":{"GBP":99,"USD":250}}`,
	}
	q := "SELECT window_start, partitions, emissions, events, revenue_minor FROM %s.window_totals ORDER BY window_start"

	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 4 {
		t.Run(fmt.Sprint("order", round), func(t *testing.T) {
			p := standIn(fmt.Sprintf("t_dedup_%d", round))
			c := freshSchema(t, p)
			// Every record once in log order, then redeliveries of random
			// subsets in random order, in separate blocks (so separate parts
			// that no merge has collapsed yet).
			var msgs []kafkaMsg
			for i := range records {
				msgs = append(msgs, aggMsg(t, &records[i], uint64(i)))
			}
			if round > 0 {
				rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
			}
			feed(t, c, p.Database+".agg_window_queue", msgs)
			for range round {
				k := 1 + rng.IntN(len(msgs))
				re := slices.Clone(msgs)
				rng.Shuffle(len(re), func(i, j int) { re[i], re[j] = re[j], re[i] })
				feed(t, c, p.Database+".agg_window_queue", re[:k])
			}
			got := mustQuery(t, c, fmt.Sprintf(q, p.Database))
			assertJSONRows(t, got, wantTotals)

			d, err := VerifyIn(context.Background(), c, p.Database, records)
			if err != nil {
				t.Fatal(err)
			}
			if !d.OK() {
				var b strings.Builder
				d.Render(&b)
				t.Errorf("Verify against the records fed: %s", b.String())
			}
			if rows := mustQuery(t, c, "SELECT count() AS n FROM "+p.Database+".ingest_rejects"); rows[0]["n"] != json.Number("0") {
				t.Errorf("ingest_rejects has %v rows, want 0", rows[0]["n"])
			}
		})
	}
}

// Verify must notice a window whose newest revision has not reached
// ClickHouse, and a window ClickHouse lacks entirely.
func TestVerifyFindsMismatches(t *testing.T) {
	p := standIn("t_verify")
	c := freshSchema(t, p)
	const w1, w2 = "2026-01-01T10:00:00.000Z", "2026-01-01T10:01:00.000Z"
	inCH := []aggregate.Record{rec(w1, 0, 1, 10, map[string]int64{"EUR": 1000}), rec(w1, 1, 1, 4, nil)}
	var msgs []kafkaMsg
	for i := range inCH {
		msgs = append(msgs, aggMsg(t, &inCH[i], uint64(i)))
	}
	feed(t, c, p.Database+".agg_window_queue", msgs)

	kafka := append(slices.Clone(inCH), rec(w1, 0, 2, 11, map[string]int64{"EUR": 1200}), rec(w2, 2, 1, 1, nil))
	d, err := VerifyIn(context.Background(), c, p.Database, kafka)
	if err != nil {
		t.Fatal(err)
	}
	if d.OK() {
		t.Fatal("Verify reported OK for a stale and a missing window")
	}
	got := map[string][3]int64{}
	for _, m := range d.Mismatches {
		got[m.WindowStart+" "+m.Field] = [3]int64{m.Kafka, m.ClickHouse, 0}
	}
	for k, v := range map[string][2]int64{
		w1 + " events":             {15, 14},
		w1 + " revision_sum":       {3, 2},
		w1 + " revenue_minor[EUR]": {1200, 1000},
		w1 + " product_views[p1]":  {3, 2},
		w2 + " partitions":         {1, 0},
		w2 + " events":             {1, 0},
		w2 + " revision_sum":       {1, 0},
	} {
		if g, ok := got[k]; !ok || g[0] != v[0] || g[1] != v[1] {
			t.Errorf("mismatch %s = %v (present %v), want kafka %d clickhouse %d", k, g, ok, v[0], v[1])
		}
	}
	if _, ok := got[w1+" partitions"]; ok {
		t.Errorf("partitions of %s reported although both sides have 2", w1)
	}
	var b strings.Builder
	d.Render(&b)
	if out := b.String(); !strings.Contains(out, "MISMATCH") || !strings.Contains(out, "revenue_minor[EUR]") {
		t.Errorf("Render output lacks the mismatch:\n%s", out)
	}
}

func assertJSONRows(t *testing.T, got []map[string]any, want []string) {
	t.Helper()
	var w []map[string]any
	for _, l := range want {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			t.Fatalf("bad expectation %s: %v", l, err)
		}
		w = append(w, row)
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("rows\n got  %v\n want %v", got, w)
	}
}

// TestStorageTablesFsyncInserts: every table that stores rows (every
// MergeTree the schema creates, schema_migrations aside) writes inserted
// parts with fsync_after_insert and fsync_part_directory, so an offset the
// Kafka engine commits is never ahead of what a power loss would keep
// (docs/clickhouse.md §5). Listing the tables from the engine rather than
// by name catches a new table added without the settings.
func TestStorageTablesFsyncInserts(t *testing.T) {
	p := standIn("t_fsync")
	c := freshSchema(t, p)
	rows := mustQuery(t, c, "SELECT name, create_table_query FROM system.tables WHERE database = 't_fsync' AND engine LIKE '%MergeTree' AND name != 'schema_migrations' ORDER BY name")
	var names []string
	for _, r := range rows {
		name, ddl := fmt.Sprint(r["name"]), fmt.Sprint(r["create_table_query"])
		names = append(names, name)
		for _, want := range []string{"fsync_after_insert = 1", "fsync_part_directory = 1"} {
			if !strings.Contains(ddl, want) {
				t.Errorf("%s lacks %s:\n%s", name, want, ddl)
			}
		}
	}
	if want := []string{"aggregates", "alerts", "dead_letters", "ingest_rejects"}; !slices.Equal(names, want) {
		t.Errorf("storage tables %v, want %v", names, want)
	}
}

// BenchmarkInsertFsync measures what fsync_after_insert and
// fsync_part_directory cost per insert: one op is one INSERT of 300
// aggregate rows, about what the Kafka engine writes per flush.
//
//	go test -tags chdb -run '^$' -bench InsertFsync -benchtime 200x ./clickhouse/
func BenchmarkInsertFsync(b *testing.B) {
	c := engine(b)
	mustExec(b, c, "CREATE DATABASE IF NOT EXISTS b_fsync")
	b.Cleanup(func() { c.Exec(context.Background(), "DROP DATABASE IF EXISTS b_fsync SYNC") })
	for _, fsync := range []int{0, 1} {
		b.Run(fmt.Sprintf("fsync=%d", fsync), func(b *testing.B) {
			table := fmt.Sprintf("b_fsync.t%d", fsync)
			mustExec(b, c, "DROP TABLE IF EXISTS "+table+" SYNC")
			mustExec(b, c, fmt.Sprintf(`CREATE TABLE %s (window_start DateTime64(3, 'UTC'), source_partition Int32, revision UInt64, payload String)
				ENGINE = ReplacingMergeTree(revision) ORDER BY (window_start, source_partition)
				SETTINGS fsync_after_insert = %d, fsync_part_directory = %d`, table, fsync, fsync))
			ins := fmt.Sprintf("INSERT INTO %s SELECT toDateTime64(number * 60, 3, 'UTC'), number %% 3, 1, repeat('x', 500) FROM numbers(300)", table)
			b.ResetTimer()
			for range b.N {
				mustExec(b, c, ins)
			}
		})
	}
}
