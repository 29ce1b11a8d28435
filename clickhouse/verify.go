package clickhouse

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
)

// Mismatch is one number that differs between Kafka and ClickHouse.
type Mismatch struct {
	WindowStart string // RFC 3339 UTC with milliseconds, as in the records
	// Field is a window_totals column ("events", "partitions",
	// "revision_sum", ...) or a map entry ("revenue_minor[EUR]").
	Field             string
	Kafka, ClickHouse int64
}

// Diff is the outcome of Verify.
type Diff struct {
	Database          string
	KafkaRecords      int // latest revisions compared (one per window and source partition)
	KafkaWindows      int
	ClickHouseWindows int
	Mismatches        []Mismatch // sorted by window, then field
}

// OK reports whether ClickHouse matches Kafka exactly.
func (d Diff) OK() bool { return len(d.Mismatches) == 0 }

// maxRenderedMismatches keeps a badly broken run readable; the count of the
// rest is printed.
const maxRenderedMismatches = 200

// Render writes a one-line summary and, on mismatch, a table of the
// differing numbers.
func (d Diff) Render(w io.Writer) {
	status := "OK"
	if !d.OK() {
		status = fmt.Sprintf("MISMATCH (%d numbers differ)", len(d.Mismatches))
	}
	fmt.Fprintf(w, "verify %s: %d latest aggregate records from Kafka in %d windows; ClickHouse window_totals has %d windows: %s\n",
		d.Database, d.KafkaRecords, d.KafkaWindows, d.ClickHouseWindows, status)
	if d.OK() {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "window_start\tfield\tkafka\tclickhouse\tclickhouse-kafka\t")
	for i, m := range d.Mismatches {
		if i == maxRenderedMismatches {
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%+d\t\n", m.WindowStart, m.Field, m.Kafka, m.ClickHouse, m.ClickHouse-m.Kafka)
	}
	tw.Flush()
	if n := len(d.Mismatches) - maxRenderedMismatches; n > 0 {
		fmt.Fprintf(w, "... and %d more\n", n)
	}
}

// Verify reconciles ClickHouse with Kafka in DefaultDatabase; see VerifyIn.
func Verify(ctx context.Context, db DB, kafkaRecords []aggregate.Record) (Diff, error) {
	return VerifyIn(ctx, db, DefaultDatabase, kafkaRecords)
}

// VerifyIn compares the per-window totals the dashboards read
// (<database>.window_totals) with the same totals computed from aggregate
// records read from Kafka: for every (window, source partition) the record
// with the highest revision, summed over partitions. Every column is
// compared, every map entry included, plus the number of partitions and the
// sum of revisions, so a window whose newest revision has not reached
// ClickHouse yet shows up even when its numbers happen to agree.
//
// Records may come in any order and repeat (ReadLatestAggregates already
// keeps the latest, but a raw dump works too).
func VerifyIn(ctx context.Context, db DB, database string, kafkaRecords []aggregate.Record) (Diff, error) {
	if !identifier.MatchString(database) {
		return Diff{}, fmt.Errorf("verify: database %q is not an identifier", database)
	}
	want, nrec, err := KafkaTotals(kafkaRecords)
	if err != nil {
		return Diff{}, err
	}
	got, err := clickHouseTotals(ctx, db, database)
	if err != nil {
		return Diff{}, err
	}
	d := Diff{Database: database, KafkaRecords: nrec, KafkaWindows: len(want), ClickHouseWindows: len(got)}
	windows := map[int64]bool{}
	for w := range want {
		windows[w] = true
	}
	for w := range got {
		windows[w] = true
	}
	for _, w := range slices.Sorted(maps.Keys(windows)) {
		k, c := want[w], got[w]
		fields := map[string]bool{}
		for f := range k {
			fields[f] = true
		}
		for f := range c {
			fields[f] = true
		}
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			if k[f] != c[f] {
				d.Mismatches = append(d.Mismatches, Mismatch{WindowStart: formatMs(w), Field: f, Kafka: k[f], ClickHouse: c[f]})
			}
		}
	}
	return d, nil
}

// Totals are one window's numbers by field name; map entries are
// "name[key]" and zero entries are left out.
type Totals map[string]int64

// KafkaTotals keeps the highest revision of every (window, source
// partition) and sums them per window (keyed by window start, Unix ms). It
// also returns how many latest records it kept.
func KafkaTotals(records []aggregate.Record) (map[int64]Totals, int, error) {
	type key struct {
		start int64
		part  int32
	}
	latest := map[key]*aggregate.Record{}
	for i := range records {
		r := &records[i]
		ms, err := parseMs(r.WindowStart)
		if err != nil {
			return nil, 0, fmt.Errorf("verify: record %s: %w", r.Key(), err)
		}
		k := key{ms, r.SourcePartition}
		if cur, ok := latest[k]; !ok || r.Revision > cur.Revision {
			latest[k] = r
		}
	}
	out := map[int64]Totals{}
	for k, r := range latest {
		t := out[k.start]
		if t == nil {
			t = Totals{}
			out[k.start] = t
		}
		for f, v := range map[string]int64{
			"partitions": 1, "revision_sum": r.Revision, "events": r.Events, "users": r.Users, "sessions": r.Sessions,
			"orders": r.Orders, "refunds": r.Refunds, "payment_failures": r.PaymentFailures,
			"late_accepted": r.LateAccepted, "duplicates": r.Duplicates,
		} {
			t[f] += v
		}
		for name, m := range map[string]map[string]int64{
			"events_by_type": r.EventsByType, "revenue_minor": r.RevenueMinor, "refunded_minor": r.RefundedMinor,
			"funnel": r.Funnel, "product_views": r.ProductViews,
		} {
			for mk, v := range m {
				t[name+"["+mk+"]"] += v
			}
		}
	}
	for _, t := range out {
		dropZeros(t)
	}
	return out, len(latest), nil
}

var scalarColumns = []string{"partitions", "revision_sum", "events", "users", "sessions", "orders", "refunds",
	"payment_failures", "late_accepted", "duplicates"}
var mapColumns = []string{"events_by_type", "revenue_minor", "refunded_minor", "funnel", "product_views"}

func clickHouseTotals(ctx context.Context, db DB, database string) (map[int64]Totals, error) {
	q := "SELECT toUnixTimestamp64Milli(window_start) AS window_start_ms, partitions, emissions AS revision_sum, events, users, sessions, " +
		"orders, refunds, payment_failures, late_accepted, duplicates, events_by_type, revenue_minor, refunded_minor, funnel, product_views " +
		"FROM " + database + ".window_totals ORDER BY window_start_ms"
	rows, err := db.QueryJSON(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("verify: read %s.window_totals: %w", database, err)
	}
	out := make(map[int64]Totals, len(rows))
	for _, row := range rows {
		w, err := toInt64(row["window_start_ms"])
		if err != nil {
			return nil, fmt.Errorf("verify: window_start_ms: %w", err)
		}
		t := Totals{}
		for _, c := range scalarColumns {
			if t[c], err = toInt64(row[c]); err != nil {
				return nil, fmt.Errorf("verify: window %s column %s: %w", formatMs(w), c, err)
			}
		}
		for _, c := range mapColumns {
			m, ok := row[c].(map[string]any)
			if !ok && row[c] != nil {
				return nil, fmt.Errorf("verify: window %s column %s: %T is not a map", formatMs(w), c, row[c])
			}
			for k, v := range m {
				n, err := toInt64(v)
				if err != nil {
					return nil, fmt.Errorf("verify: window %s %s[%s]: %w", formatMs(w), c, k, err)
				}
				t[c+"["+k+"]"] += n
			}
		}
		dropZeros(t)
		out[w] = t
	}
	return out, nil
}

// dropZeros removes zero numbers: Kafka's maps omit zero entries while
// sumMap may keep them, and a zero scalar equals an absent one.
func dropZeros(t Totals) {
	for k, v := range t {
		if v == 0 {
			delete(t, k)
		}
	}
}

// toInt64 reads a JSONEachRow number (json.Number from both DB
// implementations; a quoted 64-bit integer is accepted too).
func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case interface{ Int64() (int64, error) }:
		return x.Int64()
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int64(x), nil
	case nil:
		return 0, nil
	default:
		return 0, fmt.Errorf("%v (%T) is not a number", v, v)
	}
}

func parseMs(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("window_start %q is not RFC 3339", s)
	}
	return t.UnixMilli(), nil
}

func formatMs(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
