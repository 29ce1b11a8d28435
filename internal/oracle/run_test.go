package oracle

import (
	"fmt"
	"strings"
	"testing"
)

// TestWorkedTimeline walks one partition through every window rule with the
// default config (window 1 min, out-of-orderness 5 s, lateness 2 min), first
// with coalescing ranges of one offset (every change is emitted before the
// next message), then with the default ranges of 1000 offsets. Every
// expected record was computed by hand; the comments carry the reasoning.
func TestWorkedTimeline(t *testing.T) {
	at := func(hms string) string { return "2024-05-01T12:" + hms + "Z" }
	values := []string{
		// 0: on time, window [12:00,12:01). W = 12:00:05.
		eventJSON("page_view", uuidN(1), at("00:10")),
		// 1: on time. W = 12:00:35.
		eventJSON("product_view", uuidN(2), at("00:40")),
		// 2: opens window [12:01,12:02). W = 12:00:58 < 12:01, nothing fires.
		eventJSON("page_view", uuidN(3), at("01:03"), "user_id", `"u2"`, "session_id", `"s2"`),
		// 3: out of order, still counted in [12:00); W stays 12:00:58.
		eventJSON("add_to_cart", uuidN(4), at("00:50")),
		// 4: duplicate of 0 before [12:00) fired: duplicates=1, no emission.
		eventJSON("page_view", uuidN(1), at("00:10")),
		// 5: W = 12:01:02 ≥ 12:01 → [12:00) emitted, revision 1.
		eventJSON("page_view", uuidN(5), at("01:07"), "user_id", `"u3"`, "session_id", `"s3"`),
		// 6: allowed late: W 12:01:02 < 12:01 + 2 min → late_accepted=1,
		//    revision 2 at the start of the next range (message 7).
		eventJSON("order_placed", uuidN(6), at("00:30"), "user_id", `"u4"`, "session_id", `"s4"`, "amount_minor", "1999"),
		// 7: duplicate of 1 (upper-case id) after [12:00) fired: duplicates=2,
		//    revision 3 at message 8, before [12:01) fires; late_accepted stays 1.
		eventJSON("product_view", strings.ToUpper(uuidN(2)), at("00:41")),
		// 8: W = 12:03:15 → [12:01) emitted, revision 1.
		eventJSON("page_view", uuidN(7), at("03:20")),
		// 9: too late: W 12:03:15 ≥ 12:01 + 2 min → late_event dead letter.
		eventJSON("page_view", uuidN(8), "2024-05-01T12:00:59.999Z"),
		// 10: allowed late for [12:01) (limit 12:04): late_accepted=1,
		//     revision 2 at message 11.
		eventJSON("checkout_started", uuidN(9), at("01:59"), "user_id", `"u2"`, "session_id", `"s2"`),
		// 11: new window [12:02) already behind W (end 12:03 ≤ 12:03:15) but
		//     within lateness: created, then fired as revision 1, late_accepted 0.
		eventJSON("payment_failed", uuidN(10), at("02:30"), "currency", `"USD"`),
		// end of input: [12:03) flushed as revision 1.
	}
	cfg := DefaultConfig()
	cfg.CoalesceOffsets = 1
	res := Run(cfg, 3, msgs(now, values...))

	w00 := want{start: "2024-05-01T12:00:00.000Z", end: "2024-05-01T12:01:00.000Z", partition: 3}
	w01 := want{start: "2024-05-01T12:01:00.000Z", end: "2024-05-01T12:02:00.000Z", partition: 3}
	w02 := want{start: "2024-05-01T12:02:00.000Z", end: "2024-05-01T12:03:00.000Z", partition: 3}
	w03 := want{start: "2024-05-01T12:03:00.000Z", end: "2024-05-01T12:04:00.000Z", partition: 3}

	r00a := w00
	r00a.revision, r00a.events, r00a.users, r00a.sessions, r00a.duplicates = 1, 3, 1, 1, 1
	r00a.byType = `{"page_view":1,"product_view":1,"add_to_cart":1}`
	r00a.funnel = `{"product_view":1,"add_to_cart":1}`
	r00a.productViews = `{"p1":1}`

	r00b := r00a
	r00b.revision, r00b.events, r00b.users, r00b.sessions, r00b.lateAccepted = 2, 4, 2, 2, 1
	r00b.byType = `{"page_view":1,"product_view":1,"add_to_cart":1,"order_placed":1}`
	r00b.orders, r00b.revenue = 1, `{"EUR":1999}`
	r00b.funnel = `{"product_view":1,"add_to_cart":1,"order_placed":1}`

	r00c := r00b
	r00c.revision, r00c.duplicates = 3, 2

	r01a := w01
	r01a.revision, r01a.events, r01a.users, r01a.sessions = 1, 2, 2, 2
	r01a.byType = `{"page_view":2}`

	r01b := r01a
	r01b.revision, r01b.events, r01b.lateAccepted = 2, 3, 1
	r01b.byType = `{"page_view":2,"checkout_started":1}`
	r01b.funnel = `{"checkout_started":1}`

	r02 := w02
	r02.revision, r02.events, r02.users, r02.sessions, r02.paymentFailures = 1, 1, 1, 1, 1
	r02.byType = `{"payment_failed":1}`

	r03 := w03
	r03.revision, r03.events, r03.users, r03.sessions = 1, 1, 1, 1
	r03.byType = `{"page_view":1}`

	assertEmissions(t, res.Emissions, []want{r00a, r00b, r00c, r01a, r01b, r02, r03})
	assertDeadLetters(t, res.DeadLetters, []DeadLetter{{9, ReasonLateEvent, "2024-05-01T12:00:59.999Z"}})
	if res.Counted != 9 || res.Duplicates != 2 {
		t.Errorf("counted %d duplicates %d, want 9 and 2", res.Counted, res.Duplicates)
	}

	finals := map[string]want{w00.start: r00c, w01.start: r01b, w02.start: r02, w03.start: r03}
	if len(res.Final) != len(finals) {
		t.Fatalf("Final has %d windows, want %d", len(res.Final), len(finals))
	}
	for start, w := range finals {
		if ok, diff := EqualJSON(res.Final[start], w.JSON()); !ok {
			t.Errorf("final %s:\n%s", start, diff)
		}
	}

	// All twelve messages in one range: first emissions still come when W
	// passes each window's end; the changes after them (messages 6, 7 and
	// 10) wait for the end of input, one revision per window: the same
	// final numbers under revision 2.
	coalesced := Run(DefaultConfig(), 3, msgs(now, values...))
	r00c2, r01b2 := r00c, r01b
	r00c2.revision = 2
	assertEmissions(t, coalesced.Emissions, []want{r00a, r01a, r02, r00c2, r01b2, r03})
}

func TestWindowBefore1970(t *testing.T) {
	values := []string{
		eventJSON("page_view", uuidN(1), "1969-12-31T23:59:30.5Z"),
		// -1 ms after truncation: still the window before 1970
		eventJSON("product_view", uuidN(2), "1969-12-31T23:59:59.9999Z", "session_id", `"s2"`, "product_id", `"p9"`),
		// 1970-01-01T00:00:00Z is the first instant of the next window
		eventJSON("page_view", uuidN(3), "1970-01-01T00:00:00Z"),
		// 1969-12-31T23:59:00Z written with an offset: first instant of the window
		eventJSON("order_refunded", uuidN(4), "1970-01-01T00:59:00+01:00", "user_id", `"u2"`, "amount_minor", "250", "currency", `"GBP"`),
	}
	// W = 0 − 5 s = −5000 ms < 0: nothing fires until the end-of-input flush.
	res := Run(DefaultConfig(), 0, msgs(0, values...))
	assertEmissions(t, res.Emissions, []want{
		{
			start: "1969-12-31T23:59:00.000Z", end: "1970-01-01T00:00:00.000Z",
			revision: 1, events: 3, users: 2, sessions: 2,
			byType:  `{"page_view":1,"product_view":1,"order_refunded":1}`,
			refunds: 1, refunded: `{"GBP":250}`,
			funnel: `{"product_view":1}`, productViews: `{"p9":1}`,
		},
		{
			start: "1970-01-01T00:00:00.000Z", end: "1970-01-01T00:01:00.000Z",
			revision: 1, events: 1, users: 1, sessions: 1, byType: `{"page_view":1}`,
		},
	})

	// A window far before 1970 is late once W has moved past it.
	late := Run(DefaultConfig(), 0, msgs(0,
		eventJSON("page_view", uuidN(1), "1970-01-01T00:10:00Z"),
		eventJSON("page_view", uuidN(2), "1900-06-15T08:30:00Z"),
	))
	assertDeadLetters(t, late.DeadLetters, []DeadLetter{{1, ReasonLateEvent, "1900-06-15T08:30:00.000Z"}})
}

func TestRecordContents(t *testing.T) {
	at := "2024-05-01T12:00:"
	values := []string{
		eventJSON("page_view", uuidN(1), at+"01Z", "user_id", `"a"`, "session_id", `"a3"`),
		eventJSON("product_view", uuidN(2), at+"02Z", "user_id", `"a"`, "session_id", `"a1"`, "product_id", `"shoe"`),
		eventJSON("product_view", uuidN(3), at+"03Z", "user_id", `"a"`, "session_id", `"a2"`, "product_id", `"shoe"`),
		eventJSON("product_view", uuidN(4), at+"04Z", "user_id", `"b"`, "session_id", `"b1"`, "product_id", `"hat"`),
		eventJSON("add_to_cart", uuidN(5), at+"05Z", "user_id", `"a"`, "session_id", `"a1"`, "product_id", `"shoe"`),
		eventJSON("add_to_cart", uuidN(6), at+"06Z", "user_id", `"a"`, "session_id", `"a1"`, "product_id", `"sock"`),
		eventJSON("checkout_started", uuidN(7), at+"07Z", "user_id", `"a"`, "session_id", `"a1"`),
		eventJSON("order_placed", uuidN(8), at+"08Z", "user_id", `"a"`, "session_id", `"a1"`, "amount_minor", "1500", "currency", `"EUR"`),
		eventJSON("order_placed", uuidN(9), at+"09Z", "user_id", `"b"`, "session_id", `"b1"`, "amount_minor", "9223372036854775807", "currency", `"EUR"`),
		eventJSON("order_placed", uuidN(10), at+"10Z", "user_id", `"c"`, "session_id", `"c1"`, "amount_minor", "300", "currency", `"USD"`),
		eventJSON("payment_failed", uuidN(11), at+"11Z", "user_id", `"c"`, "session_id", `"c1"`, "amount_minor", "300", "currency", `"USD"`),
		eventJSON("order_refunded", uuidN(12), at+"12Z", "user_id", `"a"`, "session_id", `"a1"`, "amount_minor", "700", "currency", `"EUR"`),
		eventJSON("order_refunded", uuidN(13), at+"13Z", "user_id", `"a"`, "session_id", `"a1"`, "amount_minor", "1", "currency", `"EUR"`),
		// user ids are compared exactly: "A" is another user
		eventJSON("page_view", uuidN(14), at+"14Z", "user_id", `"A"`, "session_id", `"a1"`),
	}
	res := Run(DefaultConfig(), 7, msgs(now, values...))
	assertEmissions(t, res.Emissions, []want{{
		start: "2024-05-01T12:00:00.000Z", end: "2024-05-01T12:01:00.000Z", partition: 7,
		revision: 1, events: 14, users: 4, sessions: 5,
		byType: `{"page_view":2,"product_view":3,"add_to_cart":2,"checkout_started":1,` +
			`"order_placed":3,"payment_failed":1,"order_refunded":2}`,
		orders: 3,
		// exact beyond int64: 9223372036854775807 + 1500
		revenue:         `{"EUR":9223372036854777307,"USD":300}`,
		refunds:         2,
		refunded:        `{"EUR":701}`,
		paymentFailures: 1,
		funnel:          `{"product_view":3,"add_to_cart":1,"checkout_started":1,"order_placed":3}`,
		productViews:    `{"shoe":2,"hat":1}`,
	}})
	// The emitted bytes themselves: maps are objects, never null, and empty
	// ones are {}.
	res = Run(DefaultConfig(), 0, msgs(now, eventJSON("page_view", uuidN(1), t0)))
	for _, key := range []string{`"revenue_minor":{}`, `"refunded_minor":{}`, `"funnel":{}`, `"product_views":{}`, `"events_by_type":{"page_view":1}`} {
		if !strings.Contains(string(res.Emissions[0]), key) {
			t.Errorf("emission %s lacks %s", res.Emissions[0], key)
		}
	}
}

func TestDuplicates(t *testing.T) {
	id := "6f9619ff-8b86-d011-b42d-00c04fc964ff"
	values := []string{
		eventJSON("page_view", id, "2024-05-01T12:00:10Z"),
		// same id, other case, other content, same window → duplicate
		eventJSON("order_placed", strings.ToUpper(id), "2024-05-01T12:00:50Z", "user_id", `"zz"`),
		// same id in another window → counted there
		eventJSON("page_view", id, "2024-05-01T12:01:10Z"),
		// a dead-lettered event does not register its id ...
		eventJSON("page_view", uuidN(7), "2024-05-01T12:00:20Z", "session_id", `""`),
		// ... so a valid one with that id is counted
		eventJSON("page_view", uuidN(7), "2024-05-01T12:00:20Z"),
		// third copy → duplicates 2
		eventJSON("page_view", id, "2024-05-01T12:00:10Z"),
	}
	// Out-of-orderness of 10 min keeps W behind both windows: no firing
	// until the flush, so no re-emissions get in the way.
	cfg := DefaultConfig()
	cfg.OutOfOrdernessMs = 600000
	res := Run(cfg, 0, msgs(now, values...))
	assertEmissions(t, res.Emissions, []want{
		{start: "2024-05-01T12:00:00.000Z", end: "2024-05-01T12:01:00.000Z", revision: 1, events: 2,
			users: 1, sessions: 1, byType: `{"page_view":2}`, duplicates: 2},
		{start: "2024-05-01T12:01:00.000Z", end: "2024-05-01T12:02:00.000Z", revision: 1, events: 1,
			users: 1, sessions: 1, byType: `{"page_view":1}`},
	})
	if res.Counted != 3 || res.Duplicates != 2 || len(res.DeadLetters) != 1 {
		t.Errorf("counted %d duplicates %d dead %d, want 3, 2, 1", res.Counted, res.Duplicates, len(res.DeadLetters))
	}

	// A duplicate of a too-late window is a late_event, not a duplicate.
	res = Run(DefaultConfig(), 0, msgs(now,
		eventJSON("page_view", id, "2024-05-01T12:00:10Z"),
		eventJSON("page_view", uuidN(2), "2024-05-01T12:03:05Z"), // W = 12:03:00 = end + lateness
		eventJSON("page_view", id, "2024-05-01T12:00:10Z"),
	))
	assertDeadLetters(t, res.DeadLetters, []DeadLetter{{2, ReasonLateEvent, "2024-05-01T12:00:10.000Z"}})
	if res.Duplicates != 0 {
		t.Errorf("duplicates %d, want 0", res.Duplicates)
	}
}

func TestLatenessBoundary(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OutOfOrdernessMs, cfg.AllowedLatenessMs = 0, 10000
	base := func(w string) []string {
		return []string{
			eventJSON("page_view", uuidN(1), "2024-05-01T12:00:30Z"),
			eventJSON("page_view", uuidN(2), w), // sets W
			eventJSON("page_view", uuidN(3), "2024-05-01T12:00:59Z"),
		}
	}
	// W = 12:01:09.999 < end + lateness = 12:01:10 → accepted late.
	res := Run(cfg, 0, msgs(now, base("2024-05-01T12:01:09.999Z")...))
	if len(res.DeadLetters) != 0 || res.Counted != 3 {
		t.Fatalf("just inside lateness: dead %+v counted %d", res.DeadLetters, res.Counted)
	}
	start, end := "2024-05-01T12:00:00.000Z", "2024-05-01T12:01:00.000Z"
	wantFirst := want{start: start, end: end, revision: 1, events: 1, users: 1, sessions: 1, byType: `{"page_view":1}`}
	wantSecond := want{start: start, end: end, revision: 2, events: 2, users: 1, sessions: 1, byType: `{"page_view":2}`, lateAccepted: 1}
	wantNext := want{start: end, end: "2024-05-01T12:02:00.000Z", revision: 1, events: 1, users: 1, sessions: 1, byType: `{"page_view":1}`}
	assertEmissions(t, res.Emissions, []want{wantFirst, wantSecond, wantNext})

	// W = 12:01:10 = end + lateness → late.
	res = Run(cfg, 0, msgs(now, base("2024-05-01T12:01:10Z")...))
	assertDeadLetters(t, res.DeadLetters, []DeadLetter{{2, ReasonLateEvent, "2024-05-01T12:00:59.000Z"}})

	// A window fires when W reaches its end exactly, not before.
	res = Run(cfg, 0, msgs(now,
		eventJSON("page_view", uuidN(1), "2024-05-01T12:00:30Z"),
		eventJSON("page_view", uuidN(2), "2024-05-01T12:00:59.999Z"),
	))
	if len(res.Emissions) != 1 || !strings.Contains(string(res.Emissions[0]), `"events":2`) {
		t.Errorf("W = end - 1 ms must not fire; only the end-of-input flush should: %q", res.Emissions)
	}
	res = Run(cfg, 0, msgs(now,
		eventJSON("page_view", uuidN(1), "2024-05-01T12:00:30Z"),
		eventJSON("page_view", uuidN(2), "2024-05-01T12:01:00Z"),
		eventJSON("page_view", uuidN(3), "2024-05-01T12:00:40Z"),
	))
	if len(res.Emissions) != 3 || !strings.Contains(string(res.Emissions[1]), `"late_accepted":1`) {
		t.Errorf("W = end must fire, so the third event is a late acceptance: %q", res.Emissions)
	}
}

// TestWatermarkIgnoresNonCounted: only counted events move W.
func TestWatermarkIgnoresNonCounted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OutOfOrdernessMs, cfg.AllowedLatenessMs = 0, 30000
	res := Run(cfg, 0, msgs(now,
		// W = 12:00:10
		eventJSON("page_view", uuidN(1), "2024-05-01T12:00:10Z"),
		// a duplicate later in the same window: W would be 12:00:40 if it counted
		eventJSON("page_view", uuidN(1), "2024-05-01T12:00:40Z"),
		// schema_violation and future_event far ahead
		eventJSON("page_view", uuidN(2), "2024-05-01T12:30:00Z", "user_id", `""`),
		eventJSON("page_view", uuidN(3), "2024-05-01T13:30:00Z"),
		// window [11:59,12:00) has end + lateness = 12:00:30 > W = 12:00:10,
		// so this is accepted; it is a new window behind W, fired as revision 1.
		eventJSON("page_view", uuidN(4), "2024-05-01T11:59:50Z"),
	))
	if got := len(res.DeadLetters); got != 2 {
		t.Fatalf("dead letters %+v, want 2", res.DeadLetters)
	}
	assertEmissions(t, res.Emissions, []want{
		{start: "2024-05-01T11:59:00.000Z", end: "2024-05-01T12:00:00.000Z", revision: 1, events: 1,
			users: 1, sessions: 1, byType: `{"page_view":1}`},
		{start: "2024-05-01T12:00:00.000Z", end: "2024-05-01T12:01:00.000Z", revision: 1, events: 1,
			users: 1, sessions: 1, byType: `{"page_view":1}`, duplicates: 1},
	})
}

// TestFiringOrder: one message can fire several windows, oldest first, and
// the end-of-input flush is ordered too, whatever the arrival order.
func TestFiringOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OutOfOrdernessMs, cfg.AllowedLatenessMs = 600000, 3600000
	values := []string{
		eventJSON("page_view", uuidN(1), "2024-05-01T12:03:10Z"), // W = 11:53:10
		eventJSON("page_view", uuidN(2), "2024-05-01T12:01:10Z"),
		eventJSON("page_view", uuidN(3), "2024-05-01T12:02:10Z"),
		eventJSON("page_view", uuidN(4), "2024-05-01T12:00:10Z"),
		// W = 12:03:30: fires 12:00, 12:01, 12:02 (12:03 ends at 12:04 > W)
		eventJSON("page_view", uuidN(5), "2024-05-01T12:13:30Z"),
		// W = 12:10:00: fires 12:03
		eventJSON("page_view", uuidN(6), "2024-05-01T12:20:00Z"),
		// new window already behind W: fires at once
		eventJSON("page_view", uuidN(7), "2024-05-01T12:05:00Z"),
		// pending, created after 12:13 and 12:20
		eventJSON("page_view", uuidN(8), "2024-05-01T12:12:00Z"),
		// flush: 12:12, 12:13, 12:20
	}
	res := Run(cfg, 0, msgs(now, values...))
	var got []string
	for _, e := range res.Emissions {
		s := string(e)
		i := strings.Index(s, `"window_start":"`) + len(`"window_start":"`)
		got = append(got, s[i+11:i+16])
	}
	want := []string{"12:00", "12:01", "12:02", "12:03", "12:05", "12:12", "12:13", "12:20"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("emission order %v, want %v", got, want)
	}
}
