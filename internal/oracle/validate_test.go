package oracle

import (
	"strings"
	"testing"
)

const t0 = "2024-05-01T12:00:10Z"

func TestOversized(t *testing.T) {
	ev := eventJSON("page_view", uuidN(1), t0)
	cfg := DefaultConfig()
	cfg.MaxEventBytes = len(ev) + 3

	// Exactly at the limit (padded with JSON whitespace) is fine.
	if got := outcome(t, cfg, Message{Value: []byte(ev + "   "), TimestampMs: now}); got != "counted" {
		t.Errorf("value of exactly MaxEventBytes: got %s, want counted", got)
	}
	// One byte more is oversized, checked before anything else.
	for name, v := range map[string]string{
		"valid event": ev + "    ",
		"garbage":     strings.Repeat("\xff", cfg.MaxEventBytes+1),
	} {
		if got := outcome(t, cfg, Message{Value: []byte(v), TimestampMs: now}); got != ReasonOversized {
			t.Errorf("%s: got %s, want oversized", name, got)
		}
	}
	// The default limit is 65536 bytes.
	big := `{"pad":"` + strings.Repeat("a", 65536) + `"}`
	if got := outcome(t, DefaultConfig(), Message{Value: []byte(big), TimestampMs: now}); got != ReasonOversized {
		t.Errorf("default limit: got %s, want oversized", got)
	}
}

func TestInvalidJSON(t *testing.T) {
	ev := eventJSON("page_view", uuidN(1), t0)
	bad := map[string]string{
		"empty":                    "",
		"only whitespace":          " \n\t",
		"plain text":               "hello",
		"truncated":                ev[:len(ev)-1],
		"trailing garbage":         ev + "x",
		"two objects":              ev + ev,
		"two objects with space":   ev + " " + ev,
		"array":                    "[" + ev + "]",
		"string":                   `"x"`,
		"number":                   "1",
		"null":                     "null",
		"true":                     "true",
		"invalid utf8 in string":   strings.Replace(ev, `"u1"`, "\"u\xff1\"", 1),
		"invalid utf8 outside":     ev + "\xff",
		"overlong utf8 encoding":   strings.Replace(ev, `"u1"`, "\"\xc0\xaf\"", 1),
		"utf8 encoded surrogate":   strings.Replace(ev, `"u1"`, "\"\xed\xa0\x80\"", 1),
		"byte order mark":          "\xef\xbb\xbf" + ev,
		"single quotes":            `{'a':1}`,
		"trailing comma":           `{"a":1,}`,
		"unquoted key":             `{a:1}`,
		"NaN":                      `{"a":NaN}`,
		"leading zero number":      strings.Replace(ev, `"schema_version":1`, `"schema_version":01`, 1),
		"non-JSON whitespace (vt)": "\v" + ev,
		"nul byte after":           ev + "\x00",
	}
	for name, v := range bad {
		if got := outcome(t, DefaultConfig(), Message{Value: []byte(v), TimestampMs: now}); got != ReasonInvalidJSON {
			t.Errorf("%s: got %s, want invalid_json", name, got)
		}
	}

	good := map[string]string{
		"surrounding JSON whitespace": " \t\r\n" + ev + " \t\r\n",
		"lone surrogate escape":       eventJSON("page_view", uuidN(1), t0, "user_id", `"\ud800"`),
		"non-ASCII user":              eventJSON("page_view", uuidN(1), t0, "user_id", `"Zoë 😀"`),
		"escaped key":                 strings.Replace(ev, `"user_id"`, `"user\u005fid"`, 1),
	}
	for name, v := range good {
		if got := outcome(t, DefaultConfig(), Message{Value: []byte(v), TimestampMs: now}); got != "counted" {
			t.Errorf("%s: got %s, want counted", name, got)
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"1", "counted"},
		{"2", ReasonUnsupportedSchema},
		{"10", ReasonUnsupportedSchema},
		{"9223372036854775807", ReasonUnsupportedSchema},
		{"99999999999999999999999999999999", ReasonUnsupportedSchema},
		{"1.0", ReasonSchemaViolation},
		{"1e0", ReasonSchemaViolation},
		{"1E0", ReasonSchemaViolation},
		{"2.0", ReasonSchemaViolation},
		{"2e0", ReasonSchemaViolation},
		{"0.1e1", ReasonSchemaViolation},
		{"0", ReasonSchemaViolation},
		{"-0", ReasonSchemaViolation},
		{"-1", ReasonSchemaViolation},
		{"-2", ReasonSchemaViolation},
		{`"1"`, ReasonSchemaViolation},
		{`"2"`, ReasonSchemaViolation},
		{"null", ReasonSchemaViolation},
		{"true", ReasonSchemaViolation},
		{"[1]", ReasonSchemaViolation},
		{`{"v":1}`, ReasonSchemaViolation},
		{del, ReasonSchemaViolation},
	}
	for _, c := range cases {
		v := eventJSON("page_view", uuidN(1), t0, "schema_version", c.raw)
		if got := outcome(t, DefaultConfig(), Message{Value: []byte(v), TimestampMs: now}); got != c.want {
			t.Errorf("schema_version %q: got %s, want %s", c.raw, got, c.want)
		}
	}

	// unsupported_schema is decided before any other field is looked at.
	for _, v := range []string{
		`{"schema_version":2}`,
		`{"schema_version":3,"event_id":"nope","event_time":"never"}`,
		eventJSON("order_placed", "bad", "bad", "schema_version", "2", "amount_minor", "-1", "user_id", del),
	} {
		if got := outcome(t, DefaultConfig(), Message{Value: []byte(v), TimestampMs: now}); got != ReasonUnsupportedSchema {
			t.Errorf("%s: got %s, want unsupported_schema", v, got)
		}
	}

	// Duplicate keys: the last one wins.
	lastOne := eventJSON("page_view", uuidN(1), t0) // schema_version 1 first ...
	lastTwo := strings.TrimSuffix(lastOne, "}") + `,"schema_version":2}`
	if got := outcome(t, DefaultConfig(), Message{Value: []byte(lastTwo), TimestampMs: now}); got != ReasonUnsupportedSchema {
		t.Errorf("1 then 2: got %s, want unsupported_schema", got)
	}
	firstTwo := strings.Replace(lastOne, `"schema_version":1`, `"schema_version":2`, 1)
	firstTwo = strings.TrimSuffix(firstTwo, "}") + `,"schema_version":1}`
	if got := outcome(t, DefaultConfig(), Message{Value: []byte(firstTwo), TimestampMs: now}); got != "counted" {
		t.Errorf("2 then 1: got %s, want counted", got)
	}
}

func TestFieldValidation(t *testing.T) {
	type c struct {
		typ       string
		overrides []string
		want      string
	}
	o := func(kv ...string) []string { return kv }
	cases := []c{
		// every type is accepted with its required fields
		{"page_view", nil, "counted"},
		{"product_view", nil, "counted"},
		{"add_to_cart", nil, "counted"},
		{"checkout_started", nil, "counted"},
		{"order_placed", nil, "counted"},
		{"payment_failed", nil, "counted"},
		{"order_refunded", nil, "counted"},

		// event_id
		{"page_view", o("event_id", del), ReasonSchemaViolation},
		{"page_view", o("event_id", `null`), ReasonSchemaViolation},
		{"page_view", o("event_id", `123`), ReasonSchemaViolation},
		{"page_view", o("event_id", `""`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"6F9619FF-8B86-D011-B42D-00C04FC964FF"`), "counted"},
		{"page_view", o("event_id", `"6f9619ff-8B86-d011-b42d-00c04fc964ff"`), "counted"},
		{"page_view", o("event_id", `"00000000-0000-0000-0000-000000000000"`), "counted"},
		{"page_view", o("event_id", `"6f9619ff8b86d011b42d00c04fc964ff"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"{6f9619ff-8b86-d011-b42d-00c04fc964ff}"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"urn:uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"6f9619ff-8b86-d011-b42d-00c04fc964f"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"6f9619ff-8b86-d011-b42d-00c04fc964fff"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"6f9619f-f8b86-d011-b42d-00c04fc964ff"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `"6f9619fg-8b86-d011-b42d-00c04fc964ff"`), ReasonSchemaViolation},
		{"page_view", o("event_id", `" 6f9619ff-8b86-d011-b42d-00c04fc964f"`), ReasonSchemaViolation},

		// event_type
		{"page_view", o("event_type", del), ReasonSchemaViolation},
		{"page_view", o("event_type", `"Page_View"`), ReasonSchemaViolation},
		{"page_view", o("event_type", `"click"`), ReasonSchemaViolation},
		{"page_view", o("event_type", `""`), ReasonSchemaViolation},
		{"page_view", o("event_type", `1`), ReasonSchemaViolation},

		// event_time
		{"page_view", o("event_time", del), ReasonSchemaViolation},
		{"page_view", o("event_time", `1714564810000`), ReasonSchemaViolation},
		{"page_view", o("event_time", `"2024-05-01 12:00:10Z"`), ReasonSchemaViolation},
		{"page_view", o("event_time", `"2024-02-30T12:00:10Z"`), ReasonSchemaViolation},
		{"page_view", o("event_time", `"2024-05-01T12:00:10+02:00"`), "counted"},

		// user_id, session_id: non-empty strings, any content
		{"page_view", o("user_id", del), ReasonSchemaViolation},
		{"page_view", o("user_id", `""`), ReasonSchemaViolation},
		{"page_view", o("user_id", `7`), ReasonSchemaViolation},
		{"page_view", o("user_id", `null`), ReasonSchemaViolation},
		{"page_view", o("user_id", `" "`), "counted"},
		{"page_view", o("session_id", del), ReasonSchemaViolation},
		{"page_view", o("session_id", `""`), ReasonSchemaViolation},
		{"page_view", o("session_id", `["s"]`), ReasonSchemaViolation},

		// product_id: required only for product_view and add_to_cart
		{"product_view", o("product_id", del), ReasonSchemaViolation},
		{"add_to_cart", o("product_id", del), ReasonSchemaViolation},
		{"product_view", o("product_id", `""`), ReasonSchemaViolation},
		{"add_to_cart", o("product_id", `42`), ReasonSchemaViolation},
		{"page_view", o("product_id", `42`), "counted"},
		{"checkout_started", o("product_id", `""`), "counted"},
		{"order_placed", o("product_id", `{}`), "counted"},

		// order fields, on every order type
		{"order_placed", o("order_id", del), ReasonSchemaViolation},
		{"payment_failed", o("order_id", `""`), ReasonSchemaViolation},
		{"order_refunded", o("order_id", `5`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", del), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `0`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `-0`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `-5`), ReasonSchemaViolation},
		{"payment_failed", o("amount_minor", `10.5`), ReasonSchemaViolation},
		{"payment_failed", o("amount_minor", `100.0`), ReasonSchemaViolation},
		{"order_refunded", o("amount_minor", `1e3`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `"100"`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `null`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `1`), "counted"},
		{"order_placed", o("amount_minor", `9223372036854775807`), "counted"},
		{"order_placed", o("amount_minor", `9223372036854775808`), ReasonSchemaViolation},
		{"order_placed", o("amount_minor", `100000000000000000000000`), ReasonSchemaViolation},
		{"order_placed", o("currency", del), ReasonSchemaViolation},
		{"order_placed", o("currency", `"eur"`), ReasonSchemaViolation},
		{"order_placed", o("currency", `"Eur"`), ReasonSchemaViolation},
		{"order_placed", o("currency", `"EU"`), ReasonSchemaViolation},
		{"order_placed", o("currency", `"EURO"`), ReasonSchemaViolation},
		{"order_placed", o("currency", `"E1R"`), ReasonSchemaViolation},
		{"order_placed", o("currency", `"ÉUR"`), ReasonSchemaViolation},
		{"order_placed", o("currency", `978`), ReasonSchemaViolation},
		{"order_placed", o("currency", `"USD"`), "counted"},

		// order fields on clickstream types are ignored
		{"page_view", o("amount_minor", `-1`, "currency", `"x"`, "order_id", `""`), "counted"},
		{"product_view", o("amount_minor", `1.5`), "counted"},

		// optional and unknown fields are not type-checked
		{"page_view", o("page", `1`, "referrer", `null`, "device", `[]`, "country", `{"a":1}`, "extra", `true`), "counted"},
	}
	for _, tc := range cases {
		v := eventJSON(tc.typ, uuidN(1), t0, tc.overrides...)
		if got := outcome(t, DefaultConfig(), Message{Value: []byte(v), TimestampMs: now}); got != tc.want {
			t.Errorf("%s: got %s, want %s", v, got, tc.want)
		}
	}
}

func TestFutureEvent(t *testing.T) {
	// t0 = 2024-05-01T12:00:10Z = 1714564810000 ms.
	const evMs = int64(1714564810000)
	cfg := DefaultConfig()
	ev := []byte(eventJSON("page_view", uuidN(1), t0))
	if got := outcome(t, cfg, Message{Value: ev, TimestampMs: evMs - 600000}); got != "counted" {
		t.Errorf("exactly max skew ahead: got %s, want counted", got)
	}
	if got := outcome(t, cfg, Message{Value: ev, TimestampMs: evMs - 600001}); got != ReasonFutureEvent {
		t.Errorf("1 ms beyond max skew: got %s, want future_event", got)
	}
	cfg.MaxFutureMs = 0
	if got := outcome(t, cfg, Message{Value: ev, TimestampMs: evMs - 1}); got != ReasonFutureEvent {
		t.Errorf("zero skew, 1 ms ahead: got %s, want future_event", got)
	}
	// Sub-millisecond digits are dropped before the comparison.
	sub := []byte(eventJSON("page_view", uuidN(1), "2024-05-01T12:00:10.0009Z"))
	if got := outcome(t, cfg, Message{Value: sub, TimestampMs: evMs}); got != "counted" {
		t.Errorf("sub-ms ahead: got %s, want counted", got)
	}
}

func TestDeadLetterEventTime(t *testing.T) {
	cfg := DefaultConfig()
	values := []string{
		// 0: schema_violation with a valid event_time → time known
		eventJSON("page_view", "not-a-uuid", "2024-05-01T14:00:10.1234+02:00"),
		// 1: schema_violation with a broken event_time → unknown
		eventJSON("page_view", uuidN(1), "2024-05-01T12:00:10"),
		// 2: schema_violation on schema_version, valid time → known
		eventJSON("page_view", uuidN(1), t0, "schema_version", `"1"`),
		// 3: unsupported_schema never carries a time
		eventJSON("page_view", uuidN(1), t0, "schema_version", "2"),
		// 4: invalid_json never carries a time
		eventJSON("page_view", uuidN(1), t0) + ",",
		// 5: future_event
		eventJSON("page_view", uuidN(2), "2024-05-01T13:10:00.001Z"),
		// 6: counted, moves W to 13:09:55
		eventJSON("page_view", uuidN(3), "2024-05-01T13:10:00Z"),
		// 7: late_event, before 1970
		eventJSON("page_view", uuidN(4), "1969-12-31T23:59:59.9999Z"),
		// 8: event_time of the wrong type → unknown
		eventJSON("page_view", uuidN(5), t0, "event_time", "5", "user_id", `""`),
	}
	res := Run(cfg, 0, msgs(now, values...))
	assertDeadLetters(t, res.DeadLetters, []DeadLetter{
		{0, ReasonSchemaViolation, "2024-05-01T12:00:10.123Z"},
		{1, ReasonSchemaViolation, ""},
		{2, ReasonSchemaViolation, "2024-05-01T12:00:10.000Z"},
		{3, ReasonUnsupportedSchema, ""},
		{4, ReasonInvalidJSON, ""},
		{5, ReasonFutureEvent, "2024-05-01T13:10:00.001Z"},
		{7, ReasonLateEvent, "1969-12-31T23:59:59.999Z"},
		{8, ReasonSchemaViolation, ""},
	})
	if res.Counted != 1 || res.Duplicates != 0 {
		t.Errorf("counted %d duplicates %d, want 1 and 0", res.Counted, res.Duplicates)
	}
}
