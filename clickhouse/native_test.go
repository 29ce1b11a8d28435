package clickhouse

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/streamlab/streamlab/internal/aggregate"
)

func TestParseDSN(t *testing.T) {
	for _, tt := range []struct {
		dsn      string
		addr     []string
		protocol ch.Protocol
		database string
		user     string
		password string
		dial     time.Duration
		tls      bool
	}{
		{dsn: "clickhouse:9000", addr: []string{"clickhouse:9000"}, protocol: ch.Native, dial: 10 * time.Second},
		{dsn: "clickhouse", addr: []string{"clickhouse:9000"}, protocol: ch.Native, dial: 10 * time.Second},
		{dsn: "clickhouse://default:s3cret@ch1,ch2:9001/streamlab?dial_timeout=3s", addr: []string{"ch1:9000", "ch2:9001"},
			protocol: ch.Native, database: "streamlab", user: "default", password: "s3cret", dial: 3 * time.Second},
		{dsn: "clickhouse://host?secure=true", addr: []string{"host:9440"}, protocol: ch.Native, dial: 10 * time.Second, tls: true},
		{dsn: "http://localhost/streamlab", addr: []string{"localhost:8123"}, protocol: ch.HTTP, database: "streamlab", dial: 10 * time.Second},
		{dsn: "https://localhost?secure=true", addr: []string{"localhost:8443"}, protocol: ch.HTTP, dial: 10 * time.Second, tls: true},
		{dsn: "tcp://[::1]:9000", addr: []string{"[::1]:9000"}, protocol: ch.Native, dial: 10 * time.Second},
		{dsn: "[::1]", addr: []string{"[::1]:9000"}, protocol: ch.Native, dial: 10 * time.Second},
	} {
		o, err := ParseDSN(tt.dsn)
		if err != nil {
			t.Errorf("ParseDSN(%q): %v", tt.dsn, err)
			continue
		}
		if strings.Join(o.Addr, ",") != strings.Join(tt.addr, ",") || o.Protocol != tt.protocol || o.Auth.Database != tt.database ||
			o.Auth.Username != tt.user || o.Auth.Password != tt.password || o.DialTimeout != tt.dial || (o.TLS != nil) != tt.tls {
			t.Errorf("ParseDSN(%q) = addr %v protocol %v db %q user %q pw %q dial %v tls %v; want %v %v %q %q %q %v %v",
				tt.dsn, o.Addr, o.Protocol, o.Auth.Database, o.Auth.Username, o.Auth.Password, o.DialTimeout, o.TLS != nil,
				tt.addr, tt.protocol, tt.database, tt.user, tt.password, tt.dial, tt.tls)
		}
		if len(o.ClientInfo.Products) == 0 || o.ClientInfo.Products[len(o.ClientInfo.Products)-1].Name != "streamlab" {
			t.Errorf("ParseDSN(%q): client info %v lacks streamlab", tt.dsn, o.ClientInfo.Products)
		}
	}
	for _, bad := range []string{"", "  ", "postgres://host/db", "clickhouse://user:hunter2@host/db?dial_timeout=fast", "clickhouse:///db"} {
		_, err := ParseDSN(bad)
		if err == nil {
			t.Errorf("ParseDSN(%q) succeeded, want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseDSN error leaks the password: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"clickhouse://u:hunter2@h:9000/db":            "clickhouse://u:xxxxx@h:9000/db",
		"clickhouse://h:9000/db?password=hunter2&x=1": "clickhouse://h:9000/db?password=xxxxx&x=1",
		"h:9000": "clickhouse://h:9000",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// With no server to talk to, the adapter must fail fast and say where,
// without the password.
func TestOpenNativeUnreachable(t *testing.T) {
	db, err := OpenNative("clickhouse://default:hunter2@127.0.0.1:1/streamlab?dial_timeout=300ms")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var _ DB = db
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err = db.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Ping = %v, want an error naming 127.0.0.1:1 without the password", err)
	}
	if _, err := db.QueryJSON(ctx, "SELECT 1"); err == nil {
		t.Error("QueryJSON against nothing succeeded")
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("failing took %v", time.Since(start))
	}
}

func TestJSONRowsQuery(t *testing.T) {
	got := JSONRowsQuery("SELECT 1 AS x -- trailing comment;\n;  ")
	want := "SELECT formatRow('JSONEachRow', *) AS json_row FROM (\nSELECT 1 AS x -- trailing comment\n) SETTINGS output_format_json_quote_64bit_integers = 0"
	if got != want {
		t.Errorf("JSONRowsQuery = %q\nwant %q", got, want)
	}
	row, err := decodeJSONRow(`{"n":18446744073709551615,"m":{"EUR":5},"s":"x"}` + "\n")
	if err != nil || row["n"] != json.Number("18446744073709551615") || row["s"] != "x" {
		t.Errorf("decodeJSONRow = %v, %v", row, err)
	}
	if _, err := decodeJSONRow(`{"a":1}{"b":2}`); err == nil {
		t.Error("decodeJSONRow accepted two values")
	}
}

// fakeDB answers the window_totals query with fixed rows.
type fakeDB struct {
	rows []map[string]any
	err  error
}

func (f fakeDB) Exec(context.Context, string) error { return errors.New("not used") }
func (f fakeDB) QueryJSON(_ context.Context, q string) ([]map[string]any, error) {
	if !strings.Contains(q, "FROM streamlab.window_totals") {
		return nil, errors.New("unexpected query " + q)
	}
	return f.rows, f.err
}

func jsonRow(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerifyLogic(t *testing.T) {
	const w = "2026-01-01T10:00:00.000Z"
	recs := []aggregate.Record{
		{SchemaVersion: 1, WindowStart: w, SourcePartition: 0, Revision: 2, Events: 5, RevenueMinor: map[string]int64{"EUR": 10}},
		{SchemaVersion: 1, WindowStart: w, SourcePartition: 0, Revision: 1, Events: 4, RevenueMinor: map[string]int64{"EUR": 7, "JPY": 1}},
		{SchemaVersion: 1, WindowStart: w, SourcePartition: 1, Revision: 1, Events: 1},
	}
	match := fakeDB{rows: []map[string]any{jsonRow(t, `{"window_start_ms":1767261600000,"partitions":2,"revision_sum":3,"events":6,
		"users":0,"sessions":0,"orders":0,"refunds":0,"payment_failures":0,"late_accepted":0,"duplicates":0,
		"events_by_type":{},"revenue_minor":{"EUR":10,"JPY":0},"refunded_minor":{},"funnel":{},"product_views":{}}`)}}
	d, err := Verify(context.Background(), match, recs)
	if err != nil {
		t.Fatal(err)
	}
	if !d.OK() || d.KafkaRecords != 2 || d.KafkaWindows != 1 || d.ClickHouseWindows != 1 {
		t.Errorf("Verify = %+v, want OK with 2 latest records in 1 window", d)
	}
	var b strings.Builder
	d.Render(&b)
	if !strings.HasSuffix(b.String(), ": OK\n") {
		t.Errorf("Render = %q", b.String())
	}

	stale := fakeDB{rows: []map[string]any{jsonRow(t, `{"window_start_ms":1767261600000,"partitions":2,"revision_sum":2,"events":5,
		"revenue_minor":{"EUR":7,"JPY":1}}`)}}
	d, err = Verify(context.Background(), stale, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mismatch{
		{w, "events", 6, 5}, {w, "revenue_minor[EUR]", 10, 7}, {w, "revenue_minor[JPY]", 0, 1}, {w, "revision_sum", 3, 2},
	}
	if len(d.Mismatches) != len(want) {
		t.Fatalf("mismatches %v, want %v", d.Mismatches, want)
	}
	for i := range want {
		if d.Mismatches[i] != want[i] {
			t.Errorf("mismatch %d = %+v, want %+v", i, d.Mismatches[i], want[i])
		}
	}
	b.Reset()
	d.Render(&b)
	for _, s := range []string{"MISMATCH (4 numbers differ)", "revenue_minor[EUR]", "-3"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("Render lacks %q:\n%s", s, b.String())
		}
	}

	if _, err := Verify(context.Background(), fakeDB{err: errors.New("down")}, recs); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("Verify with a failing DB = %v", err)
	}
	if _, err := Verify(context.Background(), match, []aggregate.Record{{SchemaVersion: 1, WindowStart: "yesterday", Revision: 1}}); err == nil {
		t.Error("Verify accepted a record with a bad window_start")
	}
	if _, err := VerifyIn(context.Background(), match, "x;y", recs); err == nil {
		t.Error("VerifyIn accepted a bad database name")
	}
}
