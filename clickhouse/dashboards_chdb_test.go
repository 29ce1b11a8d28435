//go:build chdb

package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/grafana"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/grafanatest"
	"github.com/streamlab/streamlab/internal/oracle"
)

// expected are the numbers every dashboard must show, computed by the
// independent oracle from the raw partition logs.
type expected struct {
	windows    map[int64]Totals // per window start (Unix ms), summed over partitions
	dead       []expectedDead
	counted    int64
	duplicates int64
	// completeUntil is the newest window every partition has reported: the
	// smallest of the partitions' newest windows (Unix ms).
	completeUntil int64
	partitions    int64 // source partitions that reported any window
	newestEndMs   int64 // the newest window end of any record
	computedAt    time.Time
}

type expectedDead struct {
	partition    int32
	offset       int64
	reason       string
	hasEventTime bool
	bytes        int
}

// visibleDead are the dead letters ClickHouse can see: the Kafka engine
// skips messages with an empty value, so a dead letter of an empty raw
// message (the generator's "empty" defect) never reaches it. That is a
// property of ClickHouse, documented in docs/clickhouse.md; the processor
// counts them in Prometheus (streamlab_processor_messages_total).
func (e expected) visibleDead() []expectedDead {
	return slices.DeleteFunc(slices.Clone(e.dead), func(d expectedDead) bool { return d.bytes == 0 })
}

// expect runs the oracle over each partition's log.
func expect(t testing.TB, logs map[int32][]oracle.Message) (expected, map[int32]oracle.Result) {
	t.Helper()
	var finals []aggregate.Record
	e := expected{completeUntil: math.MaxInt64, computedAt: time.Now()}
	results := map[int32]oracle.Result{}
	for _, p := range slices.Sorted(maps.Keys(logs)) {
		res := oracle.Run(oracle.DefaultConfig(), p, logs[p])
		results[p] = res
		newest := int64(math.MinInt64)
		for _, b := range res.Final {
			r, err := aggregate.Unmarshal(b)
			if err != nil {
				t.Fatalf("oracle record: %v", err)
			}
			finals = append(finals, *r)
			start, err1 := time.Parse(time.RFC3339Nano, r.WindowStart)
			end, err2 := time.Parse(time.RFC3339Nano, r.WindowEnd)
			if err := cmp.Or(err1, err2); err != nil {
				t.Fatalf("oracle record %s: %v", r.Key(), err)
			}
			newest = max(newest, start.UnixMilli())
			e.newestEndMs = max(e.newestEndMs, end.UnixMilli())
		}
		if len(res.Final) > 0 {
			e.partitions++
			e.completeUntil = min(e.completeUntil, newest)
		}
		byOffset := map[int64]int{}
		for i, m := range logs[p] {
			byOffset[m.Offset] = i
		}
		for _, d := range res.DeadLetters {
			e.dead = append(e.dead, expectedDead{partition: p, offset: d.Offset, reason: d.Reason, hasEventTime: d.EventTime != "",
				bytes: len(logs[p][byOffset[d.Offset]].Value)})
		}
		e.counted += int64(res.Counted)
		e.duplicates += int64(res.Duplicates)
	}
	w, _, err := KafkaTotals(finals)
	if err != nil {
		t.Fatal(err)
	}
	e.windows = w
	return e, results
}

// generated is a raw log made by the generator and split over partitions by
// user, as the producer keys it.
type generated struct {
	logs map[int32][]oracle.Message
	keys map[int32][][]byte
}

func generate(t testing.TB, n, partitions int) generated {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.EventsPerSecond = 10 // ~100 s of event time per 1000 messages: many windows
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := generated{logs: map[int32][]oracle.Message{}, keys: map[int32][][]byte{}}
	for range n {
		m := g.Next()
		h := fnv.New32a()
		h.Write(m.Key)
		p := int32(h.Sum32() % uint32(partitions))
		out.logs[p] = append(out.logs[p], oracle.Message{Offset: int64(len(out.logs[p])), Value: m.Value, TimestampMs: m.ProducedAt.UnixMilli()})
		out.keys[p] = append(out.keys[p], m.Key)
	}
	return out
}

// feedOracleOutput delivers what the processor would have written for the
// generated log: every emission, then again a shuffled half of them (the
// at-least-once redelivery and restart re-emission), every dead letter with
// its headers, twice, and two alerts.
func feedOracleOutput(t testing.TB, db DB, database string, g generated, results map[int32]oracle.Result, failedAt time.Time) {
	t.Helper()
	var aggs, dlq []kafkaMsg
	for _, p := range slices.Sorted(maps.Keys(results)) {
		res := results[p]
		for _, b := range res.Emissions {
			r, err := aggregate.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			aggs = append(aggs, kafkaMsg{topic: "agg.window.v1", partition: uint64(p), offset: uint64(len(aggs)), key: []byte(r.Key()), value: b})
		}
		for i, d := range res.DeadLetters {
			l := &deadletter.Letter{Reason: event.Reason(d.Reason), Error: "oracle: " + d.Reason, Topic: "events.raw.v1",
				Partition: p, Offset: d.Offset, FailedAt: failedAt.Add(time.Duration(i) * time.Second),
				Key: g.keys[p][d.Offset], Value: g.logs[p][d.Offset].Value}
			if d.EventTime != "" {
				tm, err := time.Parse(time.RFC3339Nano, d.EventTime)
				if err != nil {
					t.Fatal(err)
				}
				l.EventTimeMs, l.HasEventTime = tm.UnixMilli(), true
			}
			dlq = append(dlq, dlqMsg(l, uint64(len(dlq))))
		}
	}
	feed(t, db, database+".agg_window_queue", aggs)
	re := slices.Clone(aggs)
	slices.Reverse(re) // newest revisions first, then the older ones over them
	feed(t, db, database+".agg_window_queue", re[:len(re)/2])
	feed(t, db, database+".dead_letters_queue", dlq)
	feed(t, db, database+".dead_letters_queue", dlq[len(dlq)/2:])
	feed(t, db, database+".alerts_queue", testAlerts(failedAt))
}

// testAlerts are one incident, firing then resolved, in the dispatcher's
// own record type so a change to its format shows up here.
func testAlerts(at time.Time) []kafkaMsg {
	var out []kafkaMsg
	for i, st := range []incident.Status{incident.Firing, incident.Resolved} {
		fired := at.Add(time.Duration(i) * 5 * time.Minute)
		a := &incident.Alert{SchemaVersion: incident.SchemaVersion, AlertID: fmt.Sprint("test-", i), Rule: "dlq_spike",
			Dimension: "all", IncidentID: "inc-1", Status: st, Severity: "warning", Title: "Dead letters spiking",
			Summary: "test", Value: 12, Baseline: 1.5, Threshold: 10,
			WindowStart: event.FormatMillis(at.UnixMilli()), WindowEnd: event.FormatMillis(at.Add(time.Minute).UnixMilli()),
			FiredAt: event.FormatMillis(fired.UnixMilli())}
		v, err := a.Marshal()
		if err != nil {
			panic(err)
		}
		out = append(out, kafkaMsg{topic: "alerts.v1", offset: uint64(i), key: []byte(a.Key()), value: v})
	}
	return out
}

// panelResults are the rows of every dashboard query, by "dashboard /
// title / refId".
type panelResults map[string][]map[string]any

// kafkaEnginePanel reports whether a query reads ClickHouse's own Kafka
// consumers: only a schema with real Kafka engine tables has any.
func kafkaEnginePanel(sql string) bool { return strings.Contains(sql, "system.kafka_consumers") }

// livePanels change with the wall clock or with the Kafka engine's own
// counters, not with the data: they are left out when a test compares two
// runs of the dashboards.
var livePanels = map[string]bool{
	"streamlab / Pipeline / End-to-end freshness / A":                                  true,
	"streamlab / Pipeline / ClickHouse's Kafka ingestion (system.kafka_consumers) / A": true,
}

// runDashboards runs every ClickHouse query of every dashboard against
// database, after the plugin's interpolation, and fails on any error or
// empty result. It also runs each panel with every variable narrowed to
// one value, and checks that the Native adapter's JSON wrapping returns the
// same rows as the engine's own JSONEachRow. With stand-in tables
// (kafkaEngine false) ClickHouse has no Kafka consumers, and the panel
// showing them must be empty rather than full.
func runDashboards(t *testing.T, db DB, database string, tr grafanatest.TimeRange, kafkaEngine bool) panelResults {
	t.Helper()
	ctx := context.Background()
	mustExec(t, db, "USE "+database) // what the datasource's defaultDatabase does
	ds, err := grafanatest.Dashboards(grafana.Files)
	if err != nil {
		t.Fatal(err)
	}
	out := panelResults{}
	for _, d := range ds {
		vars := map[string]grafanatest.VarValue{}
		qs := d.Queries()
		for _, q := range qs {
			if q.Source != "variable" {
				continue
			}
			sql, err := grafanatest.Interpolate(q.SQL, tr, time.Minute, vars)
			if err != nil {
				t.Fatalf("%s variable %s: %v", d.Title, q.Title, err)
			}
			rows := mustQuery(t, db, sql)
			v := grafanatest.VarValue{All: true}
			for _, r := range rows {
				for _, val := range r {
					v.Options = append(v.Options, fmt.Sprint(val))
				}
			}
			vars[q.Title] = v
			out[d.Title+" / $"+q.Title+" / "] = rows
		}
		for _, q := range qs {
			if q.Datasource.UID != grafanatest.ClickHouseUID || q.Source == "variable" {
				continue
			}
			name := d.Title + " / " + q.Title + " / " + q.RefID
			sql, err := grafanatest.Interpolate(q.SQL, tr, time.Minute, vars)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			rows, err := db.QueryJSON(ctx, sql)
			if err != nil {
				t.Errorf("%s: %v\n%s", name, err, sql)
				continue
			}
			switch {
			case kafkaEnginePanel(sql) && !kafkaEngine:
				if len(rows) != 0 {
					t.Errorf("%s: %d rows, but stand-in tables have no Kafka consumer: %v", name, len(rows), rows)
				}
			case len(rows) == 0:
				t.Errorf("%s returned no rows:\n%s", name, sql)
			}
			out[name] = rows

			wrapped := mustQuery(t, db, JSONRowsQuery(sql))
			var decoded []map[string]any
			for _, w := range wrapped {
				r, err := decodeJSONRow(fmt.Sprint(w["json_row"]))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				decoded = append(decoded, r)
			}
			same := reflect.DeepEqual(decoded, rows)
			if livePanels[name] { // ran twice, a moment apart: compare the shape
				same = len(decoded) == len(rows) && (len(rows) == 0 || slices.Equal(slices.Sorted(maps.Keys(decoded[0])), slices.Sorted(maps.Keys(rows[0]))))
			}
			if len(decoded) != len(rows) || (len(rows) > 0 && !same) {
				t.Errorf("%s: JSONRowsQuery rows differ from JSONEachRow:\n got  %.300v\n want %.300v", name, decoded, rows)
			}

			for vn, v := range vars {
				if len(v.Options) == 0 || !strings.Contains(q.SQL, "$"+vn) {
					continue
				}
				narrowed := maps.Clone(vars)
				narrowed[vn] = grafanatest.VarValue{Values: v.Options[:1], Options: v.Options}
				sql, err := grafanatest.Interpolate(q.SQL, tr, time.Minute, narrowed)
				if err != nil {
					t.Fatalf("%s with $%s=%s: %v", name, vn, v.Options[0], err)
				}
				if rows := mustQuery(t, db, sql); len(rows) == 0 {
					t.Errorf("%s with $%s=%s returned no rows", name, vn, v.Options[0])
				}
			}
		}
	}
	return out
}

func num(t testing.TB, row map[string]any, col string) int64 {
	t.Helper()
	n, err := toInt64(row[col])
	if err != nil {
		t.Fatalf("column %s of %v: %v", col, row, err)
	}
	return n
}

func rowTimeMs(t testing.TB, row map[string]any, col string) int64 {
	t.Helper()
	s := fmt.Sprint(row[col])
	for _, layout := range []string{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05"} {
		if tm, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return tm.UnixMilli()
		}
	}
	t.Fatalf("column %s = %q is not a ClickHouse time", col, s)
	return 0
}

func (e expected) sum(field string) int64 {
	var n int64
	for _, w := range e.windows {
		n += w[field]
	}
	return n
}

// sumPrefix sums map entries name[key] over windows, by key.
func (e expected) sumPrefix(name string) map[string]int64 {
	out := map[string]int64{}
	for _, w := range e.windows {
		for f, v := range w {
			if k, ok := strings.CutPrefix(f, name+"["); ok {
				out[strings.TrimSuffix(k, "]")] += v
			}
		}
	}
	return out
}

func exponent(currency string) int {
	switch currency {
	case "JPY", "KRW", "ISK", "CLP", "VND":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "TND":
		return 3
	}
	return 2
}

func majorText(minor int64, e int) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	p := int64(math.Pow10(e))
	if e == 0 {
		return sign + strconv.FormatInt(minor, 10)
	}
	return fmt.Sprintf("%s%d.%0*d", sign, minor/p, e, minor%p)
}

// checkNumbers compares the dashboards' numbers with the oracle's. The time
// range must cover every window and every failure time.
func checkNumbers(t *testing.T, res panelResults, e expected) {
	t.Helper()
	get := func(name string) []map[string]any {
		t.Helper()
		rows, ok := res[name]
		if !ok {
			t.Fatalf("no result for %q (panel renamed?)", name)
		}
		return rows
	}
	one := func(name, col string, want int64) {
		t.Helper()
		rows := get(name)
		if len(rows) != 1 || num(t, rows[0], col) != want {
			t.Errorf("%s: %v, want %s = %d", name, rows, col, want)
		}
	}
	const biz, pipe, dl = "streamlab / Business / ", "streamlab / Pipeline / ", "streamlab / Dead letters / "
	latest := e.completeUntil // the "latest window" stats leave partial windows out
	visible := e.visibleDead()
	dead := int64(len(visible))
	if _, ok := e.windows[latest]; !ok {
		t.Fatalf("the newest complete window %s is not a window", formatMs(latest))
	}

	one(biz+"Events / A", "events", e.sum("events"))
	one(biz+"Orders / A", "orders", e.sum("orders"))
	one(biz+"Payment failures / A", "payment_failures", e.sum("payment_failures"))
	one(biz+"Refunds / A", "refunds", e.sum("refunds"))
	one(biz+"Active users (latest complete window) / A", "users", e.windows[latest]["users"])
	one(biz+"Sessions (latest complete window) / A", "sessions", e.windows[latest]["sessions"])

	perWindow := func(name string, cols map[string]string) {
		t.Helper()
		rows := get(name)
		if len(rows) != len(e.windows) {
			t.Errorf("%s: %d rows, want one per window (%d)", name, len(rows), len(e.windows))
		}
		for _, r := range rows {
			w := rowTimeMs(t, r, "time")
			for col, field := range cols {
				if got := num(t, r, col); got != e.windows[w][field] {
					t.Errorf("%s: window %s %s = %d, want %d", name, formatMs(w), col, got, e.windows[w][field])
				}
			}
		}
	}
	perWindow(biz+"Active users and sessions per minute / A", map[string]string{"users": "users", "sessions": "sessions"})
	perWindow(biz+"Orders, payment failures and refunds per minute / A",
		map[string]string{"orders": "orders", "payment_failures": "payment_failures", "refunds": "refunds"})
	perWindow(pipe+"Late-accepted events and duplicates per window / A", map[string]string{"late_accepted": "late_accepted", "duplicates": "duplicates"})
	perWindow(pipe+"Revisions per window / A", map[string]string{"emissions": "revision_sum", "partitions": "partitions"})

	n := 0
	for _, r := range get(biz + "Events per minute by type / A") {
		n++
		w, typ := rowTimeMs(t, r, "time"), fmt.Sprint(r["event_type"])
		if got, want := num(t, r, "events"), e.windows[w]["events_by_type["+typ+"]"]; got != want {
			t.Errorf("events by type: %s %s = %d, want %d", formatMs(w), typ, got, want)
		}
	}
	if want := len(e.sumPrefixEntries("events_by_type")); n != want {
		t.Errorf("events by type: %d rows, want %d", n, want)
	}

	for _, r := range get(biz + "Revenue per minute by currency (major units) / A") {
		w, cur := rowTimeMs(t, r, "time"), fmt.Sprint(r["currency"])
		f, err := strconv.ParseFloat(fmt.Sprint(r["revenue"]), 64)
		want := float64(e.windows[w]["revenue_minor["+cur+"]"]) / math.Pow10(exponent(cur))
		if err != nil || math.Abs(f-want) > 1e-9*math.Max(1, want) {
			t.Errorf("revenue per minute: %s %s = %v, want %v", formatMs(w), cur, r["revenue"], want)
		}
	}
	rev, refd := e.sumPrefix("revenue_minor"), e.sumPrefix("refunded_minor")
	currencies := map[string]bool{}
	for c := range rev {
		currencies[c] = true
	}
	for c := range refd {
		currencies[c] = true
	}
	rows := get(biz + "Revenue per currency / A")
	if len(rows) != len(currencies) {
		t.Errorf("revenue per currency: %d rows, want %d currencies", len(rows), len(currencies))
	}
	for _, r := range rows {
		c := fmt.Sprint(r["currency"])
		e2 := exponent(c)
		if num(t, r, "revenue_minor_total") != rev[c] || num(t, r, "refunded_minor_total") != refd[c] ||
			r["revenue"] != majorText(rev[c], e2) || r["refunded"] != majorText(refd[c], e2) || r["net"] != majorText(rev[c]-refd[c], e2) {
			t.Errorf("revenue per currency %s: %v, want revenue %d (%s), refunded %d (%s)", c, r, rev[c], majorText(rev[c], e2), refd[c], majorText(refd[c], e2))
		}
	}
	var optCur []string
	for _, r := range get(biz + "$currency / ") {
		optCur = append(optCur, fmt.Sprint(r["currency"]))
	}
	if want := slices.Sorted(maps.Keys(currencies)); !slices.Equal(optCur, want) {
		t.Errorf("$currency options %v, want %v", optCur, want)
	}

	funnel := e.sumPrefix("funnel")
	rows = get(biz + "Funnel / A")
	for i, step := range aggregate.FunnelSteps {
		if i >= len(rows) || rows[i]["step"] != step || num(t, rows[i], "sessions_reaching_step") != funnel[step] {
			t.Errorf("funnel row %d = %v, want %s %d", i, rows, step, funnel[step])
			break
		}
	}

	views := e.sumPrefix("product_views")
	top := slices.SortedFunc(maps.Keys(views), func(a, b string) int { return cmp.Or(cmp.Compare(views[b], views[a]), cmp.Compare(a, b)) })
	top = top[:min(10, len(top))]
	rows = get(biz + "Top products / A")
	var gotTop []string
	for _, r := range rows {
		gotTop = append(gotTop, fmt.Sprint(r["product_id"]))
		if num(t, r, "product_views") != views[fmt.Sprint(r["product_id"])] {
			t.Errorf("top products: %v, want %d views", r, views[fmt.Sprint(r["product_id"])])
		}
	}
	if !slices.Equal(gotTop, top) {
		t.Errorf("top products %v, want %v", gotTop, top)
	}

	// Pipeline.
	one(pipe+"Raw messages accounted / A", "raw_messages", e.counted+e.duplicates+dead)
	one(pipe+"Counted / A", "counted", e.counted)
	one(pipe+"Duplicates / A", "duplicates", e.duplicates)
	one(pipe+"Dead-lettered / A", "dead_lettered", dead)
	one(pipe+"Ingest rejects / A", "rejects", 0)
	one(pipe+"Latest complete window / A", "latest_window", latest)
	partial := int64(0)
	for w := range e.windows {
		if w > latest {
			partial++
		}
	}
	one(pipe+"Partial windows / A", "partial_windows", partial)
	t.Logf("newest complete window %s; %d of %d windows partial", formatMs(latest), partial, len(e.windows))
	if rows := get(pipe + "Partitions reported per window / A"); len(rows) != len(e.windows) {
		t.Errorf("partitions reported per window: %d rows, want one per window (%d)", len(rows), len(e.windows))
	} else {
		for _, r := range rows {
			w := rowTimeMs(t, r, "time")
			missing := int64(0)
			if w > latest {
				missing = e.partitions - e.windows[w]["partitions"]
			}
			if num(t, r, "reported") != e.windows[w]["partitions"] || num(t, r, "missing") != missing {
				t.Errorf("partitions reported for window %s: %v, want reported %d, missing %d", formatMs(w), r, e.windows[w]["partitions"], missing)
			}
		}
	}
	if w := e.windows[slices.Max(slices.Collect(maps.Keys(e.windows)))]; partial > 0 && w["partitions"] == e.partitions {
		// Not an error in general, but then the test data would not show a
		// partial window with a partition missing.
		t.Logf("the newest window has every partition: no window is missing one")
	}
	byReason := map[string]int64{}
	for _, d := range visible {
		byReason[d.reason]++
	}
	raw := float64(e.counted + e.duplicates + dead)
	if rows := get(pipe + "Share of input: dead-lettered, too late, late-accepted / A"); len(rows) != 1 {
		t.Errorf("share of input: %v", rows)
	} else {
		for col, want := range map[string]float64{"dead_lettered": float64(dead) / raw, "too_late": float64(byReason["late_event"]) / raw,
			"late_accepted": float64(e.sum("late_accepted")) / raw} {
			got, err := strconv.ParseFloat(fmt.Sprint(rows[0][col]), 64)
			if err != nil || math.Abs(got-want) > 1e-12 {
				t.Errorf("share of input %s = %v, want %v", col, rows[0][col], want)
			}
			if want == 0 {
				t.Errorf("share of input %s: the oracle has none, so the panel is not tested", col)
			}
		}
	}
	if rows := get(pipe + "End-to-end freshness / A"); len(rows) != 1 {
		t.Errorf("freshness: %v", rows)
	} else {
		// The query ran between computedAt and now.
		got, err := strconv.ParseFloat(fmt.Sprint(rows[0]["seconds_behind"]), 64)
		lo, hi := float64(e.computedAt.UnixMilli()-e.newestEndMs)/1000, float64(time.Now().UnixMilli()-e.newestEndMs)/1000
		if err != nil || got < lo || got > hi {
			t.Errorf("freshness %v s, want between %.3f and %.3f (now minus the newest window end %s)", rows[0]["seconds_behind"], lo, hi, formatMs(e.newestEndMs))
		}
	}
	outcomes := map[string]int64{}
	for _, r := range get(pipe + "Raw messages by outcome / A") {
		outcomes[fmt.Sprint(r["outcome"])] += num(t, r, "messages")
	}
	wantOutcomes := maps.Clone(byReason)
	wantOutcomes["counted"], wantOutcomes["duplicate"] = e.counted, e.duplicates
	if !maps.Equal(outcomes, wantOutcomes) {
		t.Errorf("raw messages by outcome %v, want %v", outcomes, wantOutcomes)
	}

	// Dead letters.
	withTime, bytes := int64(0), int64(0)
	for _, d := range visible {
		if d.hasEventTime {
			withTime++
		}
		bytes += int64(d.bytes)
	}
	one(dl+"Dead letters / A", "dead_letters", dead)
	one(dl+"Replayed, failed again / A", "replayed", 0)
	one(dl+"Event time known / A", "with_event_time", withTime)
	one(dl+"Bytes dead-lettered / A", "bytes", bytes)
	got := map[string]int64{}
	for _, r := range get(dl + "Dead letters by reason / A") {
		got[fmt.Sprint(r["reason"])] = num(t, r, "dead_letters")
	}
	if !maps.Equal(got, byReason) {
		t.Errorf("dead letters by reason %v, want %v", got, byReason)
	}
	got = map[string]int64{}
	for _, r := range get(dl + "Dead letters by reason per minute / A") {
		got[fmt.Sprint(r["reason"])] += num(t, r, "dead_letters")
	}
	if !maps.Equal(got, byReason) {
		t.Errorf("dead letters by reason per minute, summed: %v, want %v", got, byReason)
	}
	var optReason []string
	for _, r := range get(dl + "$reason / ") {
		optReason = append(optReason, fmt.Sprint(r["reason"]))
	}
	if want := slices.Sorted(maps.Keys(byReason)); !slices.Equal(optReason, want) {
		t.Errorf("$reason options %v, want %v", optReason, want)
	}
	if rows := get(dl + "Replay counts / A"); len(rows) != 1 || num(t, rows[0], "replay_count") != 0 || num(t, rows[0], "dead_letters") != dead {
		t.Errorf("replay counts %v, want replay_count 0 for all %d", rows, dead)
	}
	type pr struct {
		p      int32
		reason string
	}
	wantPR := map[pr][3]int64{}
	for _, d := range visible {
		k := pr{d.partition, d.reason}
		v, ok := wantPR[k]
		if !ok {
			v = [3]int64{0, d.offset, d.offset}
		}
		wantPR[k] = [3]int64{v[0] + 1, min(v[1], d.offset), max(v[2], d.offset)}
	}
	gotPR := map[pr][3]int64{}
	for _, r := range get(dl + "Dead letters by source partition and reason / A") {
		gotPR[pr{int32(num(t, r, "source_partition")), fmt.Sprint(r["reason"])}] = [3]int64{num(t, r, "dead_letters"), num(t, r, "first_offset"), num(t, r, "last_offset")}
	}
	if !maps.Equal(gotPR, wantPR) {
		t.Errorf("dead letters by partition and reason %v, want %v", gotPR, wantPR)
	}
	known := map[[2]int64]string{}
	for _, d := range visible {
		known[[2]int64{int64(d.partition), d.offset}] = d.reason
	}
	rows = get(dl + "Latest dead letters / A")
	if len(rows) != min(100, len(visible)) {
		t.Errorf("latest dead letters: %d rows, want %d", len(rows), min(100, len(visible)))
	}
	for _, r := range rows {
		k := [2]int64{num(t, r, "source_partition"), num(t, r, "source_offset")}
		if known[k] != fmt.Sprint(r["reason"]) {
			t.Errorf("latest dead letters: %v is not an expected dead letter (%q)", r, known[k])
		}
	}
}

func (e expected) sumPrefixEntries(name string) []string {
	var out []string
	for w, tot := range e.windows {
		for f := range tot {
			if strings.HasPrefix(f, name+"[") {
				out = append(out, fmt.Sprint(w, f))
			}
		}
	}
	return out
}

// TestDashboardQueries runs every dashboard query on a schema fed with the
// processor's output for a generated log (through the stand-in tables) and
// compares the numbers with the oracle's.
func TestDashboardQueries(t *testing.T) {
	p := standIn("t_dash")
	c := freshSchema(t, p)
	g := generate(t, 6000, 3)
	want, results := expect(t, g.logs)
	failedAt := time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)
	start := time.Now()
	feedOracleOutput(t, c, p.Database, g, results, failedAt)
	t.Logf("fed %d windows, %d dead letters (%d with an empty value, which the Kafka engine skips) in %v",
		len(want.windows), len(want.dead), len(want.dead)-len(want.visibleDead()), time.Since(start))

	tr := grafanatest.TimeRange{From: time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC)}
	res := runDashboards(t, c, p.Database, tr, false)
	checkNumbers(t, res, want)

	d, err := VerifyIn(context.Background(), c, p.Database, oracleFinals(t, results))
	if err != nil {
		t.Fatal(err)
	}
	if !d.OK() {
		var b strings.Builder
		d.Render(&b)
		t.Error(b.String())
	}
}

func oracleFinals(t testing.TB, results map[int32]oracle.Result) []aggregate.Record {
	t.Helper()
	var out []aggregate.Record
	for _, res := range results {
		for _, b := range res.Final {
			r, err := aggregate.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, *r)
		}
	}
	return out
}

// panelRows runs one ClickHouse panel query of a dashboard, interpolated
// as the plugin would send it.
func panelRows(t *testing.T, db DB, dashboard, title string, tr grafanatest.TimeRange) []map[string]any {
	t.Helper()
	ds, err := grafanatest.Dashboards(grafana.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		for _, q := range d.Queries() {
			if d.Title == dashboard && q.Title == title && q.Source == "panel" {
				sql, err := grafanatest.Interpolate(q.SQL, tr, time.Minute, nil)
				if err != nil {
					t.Fatal(err)
				}
				return mustQuery(t, db, sql)
			}
		}
	}
	t.Fatalf("no panel %q on %q", title, dashboard)
	return nil
}

// TestWindowCompletenessPanels: a window is complete once every source
// partition has reported it or a later one, and the "latest window"
// numbers come from the newest complete window, never a partial one.
// Partition 0 has reported windows 1-3, partition 1 windows 1 and 3 (no
// events in 2), partition 2 windows 1 and 2: window 2 is complete with
// two partitions, window 3 is partial with partition 2 missing.
func TestWindowCompletenessPanels(t *testing.T) {
	p := standIn("t_complete")
	c := freshSchema(t, p)
	const w1, w2, w3 = "2026-01-01T10:00:00.000Z", "2026-01-01T10:01:00.000Z", "2026-01-01T10:02:00.000Z"
	records := []aggregate.Record{
		rec(w1, 0, 1, 10, nil), rec(w2, 0, 1, 20, nil), rec(w3, 0, 1, 30, nil),
		rec(w1, 1, 1, 11, nil), rec(w3, 1, 2, 31, nil),
		rec(w1, 2, 1, 12, nil), rec(w2, 2, 1, 22, nil),
	}
	var msgs []kafkaMsg
	for i := range records {
		records[i].Users = records[i].Events // distinct per window, to tell windows apart
		msgs = append(msgs, aggMsg(t, &records[i], uint64(i)))
	}
	feed(t, c, p.Database+".agg_window_queue", msgs)
	mustExec(t, c, "USE "+p.Database)
	tr := grafanatest.TimeRange{From: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)}

	assertJSONRows(t, panelRows(t, c, "streamlab / Pipeline", "Latest complete window", tr), []string{`{"latest_window":1767261660000}`})
	assertJSONRows(t, panelRows(t, c, "streamlab / Pipeline", "Partial windows", tr), []string{`{"partial_windows":1}`})
	assertJSONRows(t, panelRows(t, c, "streamlab / Pipeline", "Partitions reported per window", tr), []string{
		`{"time":"2026-01-01 10:00:00.000","reported":3,"missing":0}`,
		`{"time":"2026-01-01 10:01:00.000","reported":2,"missing":0}`,
		`{"time":"2026-01-01 10:02:00.000","reported":2,"missing":1}`,
	})
	assertJSONRows(t, panelRows(t, c, "streamlab / Business", "Active users (latest complete window)", tr), []string{`{"users":42}`})
	assertJSONRows(t, panelRows(t, c, "streamlab / Business", "Sessions (latest complete window)", tr), []string{`{"sessions":13}`}) // 20/3 + 22/3

	// Partition 2 reports window 3: it is complete, and the stats move on.
	late := rec(w3, 2, 1, 32, nil)
	late.Users = 32
	feed(t, c, p.Database+".agg_window_queue", []kafkaMsg{aggMsg(t, &late, 99)})
	assertJSONRows(t, panelRows(t, c, "streamlab / Pipeline", "Partial windows", tr), []string{`{"partial_windows":0}`})
	assertJSONRows(t, panelRows(t, c, "streamlab / Business", "Active users (latest complete window)", tr), []string{`{"users":93}`})
}
