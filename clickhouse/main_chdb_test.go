//go:build chdb

// Tests with this tag run the schema, the materialized views and every
// dashboard query on the real ClickHouse engine (chDB 26.7, in process):
//
//	eval "$(scripts/chdb/install.sh)" && export STREAMLAB_LIBCHDB
//	go test -tags chdb ./clickhouse/
package clickhouse

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/streamlab/streamlab/internal/chdbtest"
)

// The package's DB interface is what chdbtest.Conn implements.
var _ DB = (*chdbtest.Conn)(nil)

func engine(t testing.TB) *chdbtest.Conn { return chdbtest.Shared(t) }

func TestMain(m *testing.M) { chdbtest.Main(m) }

// standIn returns parameters for a database whose Kafka tables are
// stand-ins fed by INSERT.
func standIn(database string) Params {
	p := DefaultParams()
	p.Database = database
	p.StandIn = true
	return p
}

// freshSchema drops the database, applies the schema and drops the database
// again when the test ends (which also stops any Kafka engine consumer).
func freshSchema(t *testing.T, p Params) *chdbtest.Conn {
	t.Helper()
	c := engine(t)
	ctx := context.Background()
	mustExec(t, c, "DROP DATABASE IF EXISTS "+p.Database+" SYNC")
	if err := Apply(ctx, c, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+p.Database+" SYNC"); err != nil {
			t.Errorf("drop %s: %v", p.Database, err)
		}
	})
	return c
}

func mustExec(t testing.TB, db DB, q string) {
	t.Helper()
	if err := db.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", abbreviate(q, 300), err)
	}
}

func mustQuery(t testing.TB, db DB, q string) []map[string]any {
	t.Helper()
	rows, err := db.QueryJSON(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", abbreviate(q, 300), err)
	}
	return rows
}

// header is a Kafka record header.
type header struct{ key, value string }

// kafkaMsg is one Kafka record as the Kafka engine would hand it to the
// materialized views.
type kafkaMsg struct {
	topic             string
	partition, offset uint64
	key, value        []byte
	headers           []header
}

func hexLit(b []byte) string { return "unhex('" + hex.EncodeToString(b) + "')" }

// feed inserts messages into a stand-in queue table, in blocks the way the
// Kafka engine flushes them. Bytes travel hex-encoded so any value (invalid
// UTF-8, over 64 KiB) arrives unchanged. Like the Kafka engine, it drops
// messages whose value is empty or null: ClickHouse skips those before any
// format sees them (TestKafkaEngineTables pins this down), so a stand-in
// that kept them would test a pipeline that does not exist.
func feed(t testing.TB, db DB, table string, msgs []kafkaMsg) {
	t.Helper()
	msgs = slices.DeleteFunc(slices.Clone(msgs), func(m kafkaMsg) bool { return len(m.value) == 0 })
	const block = 500
	for len(msgs) > 0 {
		n := min(block, len(msgs))
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (raw, _topic, _key, _partition, _offset, `_headers.name`, `_headers.value`) VALUES ", table)
		for i, m := range msgs[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			names := make([]string, len(m.headers))
			values := make([]string, len(m.headers))
			for j, h := range m.headers {
				names[j], values[j] = hexLit([]byte(h.key)), hexLit([]byte(h.value))
			}
			fmt.Fprintf(&b, "(%s, %s, %s, %d, %d, [%s], [%s])", hexLit(m.value), sq(m.topic), hexLit(m.key), m.partition, m.offset,
				strings.Join(names, ", "), strings.Join(values, ", "))
		}
		mustExec(t, db, b.String())
		msgs = msgs[n:]
	}
}
