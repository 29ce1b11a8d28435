package oracle

import (
	"fmt"
	"strings"
	"testing"
)

// del as an override value removes the field from the event.
const del = "\x00delete"

// now is the message timestamp used by tests that do not probe future_event.
const now = int64(1714568400000) // 2024-05-01T13:00:00Z

type kv struct{ key, raw string }

// eventJSON builds a valid event of type typ as JSON text, then applies
// overrides given as key, raw-JSON pairs (raw == del removes the key; a key
// not present yet is appended). Writing JSON text rather than marshalling a
// map keeps the raw literals (1 vs 1.0, key order, duplicates) under the
// test's control.
func eventJSON(typ, id, eventTime string, overrides ...string) string {
	fields := []kv{
		{"schema_version", "1"},
		{"event_id", fmt.Sprintf("%q", id)},
		{"event_type", fmt.Sprintf("%q", typ)},
		{"event_time", fmt.Sprintf("%q", eventTime)},
		{"user_id", `"u1"`},
		{"session_id", `"s1"`},
	}
	switch typ {
	case "product_view", "add_to_cart":
		fields = append(fields, kv{"product_id", `"p1"`})
	case "order_placed", "payment_failed", "order_refunded":
		fields = append(fields, kv{"order_id", `"o1"`}, kv{"amount_minor", "1000"}, kv{"currency", `"EUR"`})
	}
	if len(overrides)%2 != 0 {
		panic("overrides must be key, value pairs")
	}
	for i := 0; i < len(overrides); i += 2 {
		k, v := overrides[i], overrides[i+1]
		found := false
		for j := range fields {
			if fields[j].key == k {
				fields[j].raw = v
				found = true
			}
		}
		if !found {
			fields = append(fields, kv{k, v})
		}
	}
	var parts []string
	for _, f := range fields {
		if f.raw != del {
			parts = append(parts, fmt.Sprintf("%q:%s", f.key, f.raw))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// uuidN returns a distinct canonical UUID per n, with letters so that
// upper-casing it changes the text.
func uuidN(n int) string {
	return fmt.Sprintf("abcdef00-0000-4000-8000-%012d", n)
}

// msgs turns values into a log with offsets 0.. and one timestamp.
func msgs(ts int64, values ...string) []Message {
	out := make([]Message, len(values))
	for i, v := range values {
		out[i] = Message{Offset: int64(i), Value: []byte(v), TimestampMs: ts}
	}
	return out
}

// outcome runs a single message and names what happened to it: a reason
// code, "counted" or "duplicate".
func outcome(t *testing.T, cfg Config, m Message) string {
	t.Helper()
	res := Run(cfg, 0, []Message{m})
	switch {
	case len(res.DeadLetters) == 1 && res.Counted == 0 && res.Duplicates == 0:
		return res.DeadLetters[0].Reason
	case len(res.DeadLetters) == 0 && res.Counted == 1 && res.Duplicates == 0:
		return "counted"
	default:
		t.Fatalf("one message gave %d dead letters, %d counted, %d duplicates", len(res.DeadLetters), res.Counted, res.Duplicates)
		return ""
	}
}

// want describes an expected §7 record. Map fields are raw JSON objects;
// empty means {}.
type want struct {
	start, end               string
	partition                int32
	revision, events         int
	byType                   string
	users, sessions, orders  int
	revenue                  string
	refunds                  int
	refunded                 string
	paymentFailures          int
	funnel, productViews     string
	lateAccepted, duplicates int
}

func orEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

func (w want) JSON() []byte {
	return []byte(fmt.Sprintf(`{"schema_version":1,"window_start":%q,"window_end":%q,"source_partition":%d,`+
		`"revision":%d,"events":%d,"events_by_type":%s,"users":%d,"sessions":%d,"orders":%d,`+
		`"revenue_minor":%s,"refunds":%d,"refunded_minor":%s,"payment_failures":%d,"funnel":%s,`+
		`"product_views":%s,"late_accepted":%d,"duplicates":%d}`,
		w.start, w.end, w.partition, w.revision, w.events, orEmpty(w.byType), w.users, w.sessions, w.orders,
		orEmpty(w.revenue), w.refunds, orEmpty(w.refunded), w.paymentFailures, orEmpty(w.funnel),
		orEmpty(w.productViews), w.lateAccepted, w.duplicates))
}

func assertEmissions(t *testing.T, got [][]byte, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for i, g := range got {
			t.Logf("emission %d: %s", i, g)
		}
		t.Fatalf("got %d emissions, want %d", len(got), len(wants))
	}
	for i := range wants {
		if ok, diff := EqualJSON(got[i], wants[i].JSON()); !ok {
			t.Errorf("emission %d (got first, want second):\n%s\ngot: %s", i, diff, got[i])
		}
	}
}

func assertDeadLetters(t *testing.T, got, wants []DeadLetter) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("dead letters: got %+v, want %+v", got, wants)
	}
	for i := range wants {
		if got[i] != wants[i] {
			t.Errorf("dead letter %d: got %+v, want %+v", i, got[i], wants[i])
		}
	}
}
