package event

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	goodID = "123e4567-e89b-12d3-a456-426614174000"
	refMs  = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
)

// base builds a valid event JSON with fields overridden or removed (value "-").
func base(over map[string]string) string {
	fields := [][2]string{
		{"schema_version", `1`}, {"event_id", `"` + goodID + `"`}, {"event_type", `"page_view"`},
		{"event_time", `"2026-01-01T00:00:00.000Z"`}, {"user_id", `"u1"`}, {"session_id", `"s1"`},
	}
	var b strings.Builder
	b.WriteString("{")
	first := true
	add := func(k, v string) {
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":` + v)
	}
	done := map[string]bool{}
	for _, f := range fields {
		v := f[1]
		if o, ok := over[f[0]]; ok {
			v = o
			done[f[0]] = true
		}
		if v != "-" {
			add(f[0], v)
		}
	}
	for k, v := range over {
		if !done[k] && v != "-" {
			add(k, v)
		}
	}
	b.WriteString("}")
	return b.String()
}

func order(typ string, over map[string]string) string {
	m := map[string]string{"event_type": `"` + typ + `"`, "order_id": `"o1"`, "amount_minor": `1999`, "currency": `"EUR"`}
	for k, v := range over {
		m[k] = v
	}
	return base(m)
}

func TestParseOutcomes(t *testing.T) {
	lim := DefaultLimits()
	big := `{"schema_version":1,"pad":"` + strings.Repeat("x", 65536) + `"}`
	tests := []struct {
		name, value string
		want        Reason // "" = valid
		hasTime     bool
	}{
		{"valid page_view", base(nil), "", true},
		{"valid with optional and unknown fields", base(map[string]string{"page": `"/"`, "device": `7`, "extra": `{"x":[1]}`}), "", true},
		{"oversized", big, Oversized, false},
		{"exactly at the limit is fine", `{"schema_version":1,"pad":"` + strings.Repeat("x", 65536-29) + `"}`, SchemaViolation, false},
		{"empty", ``, InvalidJSON, false},
		{"garbage", `hello`, InvalidJSON, false},
		{"truncated", `{"schema_version":1,`, InvalidJSON, false},
		{"trailing garbage", base(nil) + `x`, InvalidJSON, false},
		{"two objects", base(nil) + base(nil), InvalidJSON, false},
		{"array", `[1,2]`, InvalidJSON, false},
		{"string", `"x"`, InvalidJSON, false},
		{"number", `42`, InvalidJSON, false},
		{"null", `null`, InvalidJSON, false},
		{"invalid utf8 in string", `{"schema_version":1,"user_id":"` + "\xff\xfe" + `"}`, InvalidJSON, false},
		{"invalid utf8 overlong", base(map[string]string{"page": "\"\xc0\xaf\""}), InvalidJSON, false},
		{"surrounding whitespace ok", " \t" + base(nil) + "\r\n", "", true},
		{"schema 2", `{"schema_version":2}`, UnsupportedSchema, false},
		{"schema 2 wins over missing fields and bad time", base(map[string]string{"schema_version": `2`, "event_time": `"nope"`}), UnsupportedSchema, false},
		{"schema huge", `{"schema_version":123456789012345678901234567890}`, UnsupportedSchema, false},
		{"schema missing", base(map[string]string{"schema_version": "-"}), SchemaViolation, true},
		{"schema string", base(map[string]string{"schema_version": `"1"`}), SchemaViolation, true},
		{"schema 1.0", base(map[string]string{"schema_version": `1.0`}), SchemaViolation, true},
		{"schema 1e0", base(map[string]string{"schema_version": `1e0`}), SchemaViolation, true},
		{"schema 2.0", base(map[string]string{"schema_version": `2.0`}), SchemaViolation, true},
		{"schema 0", base(map[string]string{"schema_version": `0`}), SchemaViolation, true},
		{"schema -1", base(map[string]string{"schema_version": `-1`}), SchemaViolation, true},
		{"schema null", base(map[string]string{"schema_version": `null`}), SchemaViolation, true},
		{"duplicate key last wins", `{"schema_version":2,"schema_version":1,` + base(nil)[1:], "", true},
		{"missing event_id", base(map[string]string{"event_id": "-"}), SchemaViolation, true},
		{"event_id number", base(map[string]string{"event_id": `12`}), SchemaViolation, true},
		{"event_id not uuid", base(map[string]string{"event_id": `"123e4567e89b12d3a456426614174000"`}), SchemaViolation, true},
		{"event_id bad hex", base(map[string]string{"event_id": `"123e4567-e89b-12d3-a456-42661417400g"`}), SchemaViolation, true},
		{"event_id braces", base(map[string]string{"event_id": `"{123e4567-e89b-12d3-a456-426614174000}"`}), SchemaViolation, true},
		{"event_id upper ok", base(map[string]string{"event_id": `"123E4567-E89B-12D3-A456-426614174000"`}), "", true},
		{"event_id escaped ok", base(map[string]string{"event_id": `"123e4567-e89b-12d3-a456-42661417400\u0030"`}), "", true},
		{"unknown type", base(map[string]string{"event_type": `"login"`}), SchemaViolation, true},
		{"type wrong case", base(map[string]string{"event_type": `"Page_View"`}), SchemaViolation, true},
		{"missing time", base(map[string]string{"event_time": "-"}), SchemaViolation, false},
		{"time number", base(map[string]string{"event_time": `1767225600000`}), SchemaViolation, false},
		{"time no zone", base(map[string]string{"event_time": `"2026-01-01T00:00:00"`}), SchemaViolation, false},
		{"time space", base(map[string]string{"event_time": `"2026-01-01 00:00:00Z"`}), SchemaViolation, false},
		{"time bad day", base(map[string]string{"event_time": `"2026-02-29T00:00:00Z"`}), SchemaViolation, false},
		{"time leap day ok", base(map[string]string{"event_time": `"2024-02-29T00:00:00Z"`}), "", true},
		{"time hour 24", base(map[string]string{"event_time": `"2026-01-01T24:00:00Z"`}), SchemaViolation, false},
		{"time second 60", base(map[string]string{"event_time": `"2025-12-31T23:59:60Z"`}), SchemaViolation, false},
		{"time empty fraction", base(map[string]string{"event_time": `"2026-01-01T00:00:00.Z"`}), SchemaViolation, false},
		{"time lower case ok", base(map[string]string{"event_time": `"2025-12-31t23:00:00z"`}), "", true},
		{"time bad offset", base(map[string]string{"event_time": `"2026-01-01T00:00:00+0100"`}), SchemaViolation, false},
		{"time offset 24h", base(map[string]string{"event_time": `"2026-01-01T00:00:00+24:00"`}), SchemaViolation, false},
		{"missing user", base(map[string]string{"user_id": "-"}), SchemaViolation, true},
		{"empty user", base(map[string]string{"user_id": `""`}), SchemaViolation, true},
		{"user number", base(map[string]string{"user_id": `5`}), SchemaViolation, true},
		{"missing session", base(map[string]string{"session_id": "-"}), SchemaViolation, true},
		{"session null", base(map[string]string{"session_id": `null`}), SchemaViolation, true},
		{"product_view without product", base(map[string]string{"event_type": `"product_view"`}), SchemaViolation, true},
		{"add_to_cart empty product", base(map[string]string{"event_type": `"add_to_cart"`, "product_id": `""`}), SchemaViolation, true},
		{"product_view ok", base(map[string]string{"event_type": `"product_view"`, "product_id": `"p1"`}), "", true},
		{"checkout needs no product", base(map[string]string{"event_type": `"checkout_started"`}), "", true},
		{"page_view with bad order fields ignored", base(map[string]string{"amount_minor": `-5`, "currency": `"x"`}), "", true},
		{"order ok", order("order_placed", nil), "", true},
		{"payment_failed ok", order("payment_failed", nil), "", true},
		{"refund ok", order("order_refunded", nil), "", true},
		{"order missing order_id", order("order_placed", map[string]string{"order_id": "-"}), SchemaViolation, true},
		{"order missing amount", order("order_placed", map[string]string{"amount_minor": "-"}), SchemaViolation, true},
		{"order float amount", order("order_placed", map[string]string{"amount_minor": `19.99`}), SchemaViolation, true},
		{"order amount 1.0", order("order_placed", map[string]string{"amount_minor": `1.0`}), SchemaViolation, true},
		{"order amount exponent", order("order_placed", map[string]string{"amount_minor": `1e3`}), SchemaViolation, true},
		{"order amount string", order("order_placed", map[string]string{"amount_minor": `"1999"`}), SchemaViolation, true},
		{"order amount zero", order("order_placed", map[string]string{"amount_minor": `0`}), SchemaViolation, true},
		{"order amount negative", order("order_refunded", map[string]string{"amount_minor": `-5`}), SchemaViolation, true},
		{"order amount max int64", order("order_placed", map[string]string{"amount_minor": `9223372036854775807`}), "", true},
		{"order amount overflow", order("order_placed", map[string]string{"amount_minor": `9223372036854775808`}), SchemaViolation, true},
		{"order missing currency", order("order_placed", map[string]string{"currency": "-"}), SchemaViolation, true},
		{"order currency lower", order("order_placed", map[string]string{"currency": `"eur"`}), SchemaViolation, true},
		{"order currency 4", order("order_placed", map[string]string{"currency": `"EURO"`}), SchemaViolation, true},
		{"order currency non-ascii", order("order_placed", map[string]string{"currency": `"ÉUR"`}), SchemaViolation, true},
		{"future", base(map[string]string{"event_time": `"2026-01-01T00:10:00.001Z"`}), FutureEvent, true},
		{"future boundary ok", base(map[string]string{"event_time": `"2026-01-01T00:10:00.000Z"`}), "", true},
		{"future via offset", base(map[string]string{"event_time": `"2026-01-01T01:10:00+01:00"`}), "", true},
		{"future after bad field: schema first", base(map[string]string{"event_time": `"2030-01-01T00:00:00Z"`, "user_id": `""`}), SchemaViolation, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev Event
			rej := Parse([]byte(tc.value), refMs, lim, &ev)
			switch {
			case tc.want == "" && rej != nil:
				t.Fatalf("want valid, got %v", rej)
			case tc.want != "" && rej == nil:
				t.Fatalf("want %s, got valid", tc.want)
			case rej != nil && rej.Reason != tc.want:
				t.Fatalf("want %s, got %v", tc.want, rej)
			case rej != nil && rej.HasTime != tc.hasTime:
				t.Fatalf("HasTime = %v, want %v (%v)", rej.HasTime, tc.hasTime, rej)
			case rej != nil && rej.Detail == "":
				t.Fatal("dead letter without a human-readable error")
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	var ev Event
	v := order("order_placed", map[string]string{"amount_minor": `8796093022217`, "currency": `"JPY"`,
		"event_time": `"2025-12-31T23:59:59.9999999-01:30"`, "user_id": `"u\u00e9\"x"`})
	if rej := Parse([]byte(v), refMs+10*time.Hour.Milliseconds(), DefaultLimits(), &ev); rej != nil {
		t.Fatal(rej)
	}
	if ev.AmountMinor != 8796093022217 || string(ev.Currency[:]) != "JPY" || string(ev.OrderID) != "o1" || ev.Type != OrderPlaced {
		t.Fatalf("fields: %+v", ev)
	}
	if got := FormatMillis(ev.TimeMs); got != "2026-01-01T01:29:59.999Z" {
		t.Fatalf("time normalised to %s", got)
	}
	if string(ev.UserID) != "ué\"x" {
		t.Fatalf("user_id %q", ev.UserID)
	}
	if FormatUUID(ev.ID) != goodID {
		t.Fatalf("id %s", FormatUUID(ev.ID))
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = invalid
	}{
		{"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"},
		{"1969-12-31T23:59:59.9999Z", "1969-12-31T23:59:59.999Z"},
		{"1969-12-31T23:59:59.0001Z", "1969-12-31T23:59:59.000Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"},
		{"0000-03-01T00:00:00Z", "0000-03-01T00:00:00.000Z"},
		{"9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"},
		{"2026-06-30T12:00:00.5+14:00", "2026-06-29T22:00:00.500Z"},
		{"2026-06-30T12:00:00-00:00", "2026-06-30T12:00:00.000Z"},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"},
		{"1900-02-29T00:00:00Z", ""},
		{"2026-1-01T00:00:00Z", ""},
		{"2026-01-01T00:00:00+01", ""},
		{"2026-01-01T00:00:00Zjunk", ""},
		{"+2026-01-01T00:00:00Z", ""},
		{"2026-13-01T00:00:00Z", ""},
		{"2026-00-10T00:00:00Z", ""},
		{"2026-04-31T00:00:00Z", ""},
	}
	for _, tc := range tests {
		ms, ok := ParseTime([]byte(tc.in))
		if tc.want == "" {
			if ok {
				t.Errorf("%s: accepted as %s", tc.in, FormatMillis(ms))
			}
			continue
		}
		if !ok || FormatMillis(ms) != tc.want {
			t.Errorf("%s: got %s ok=%v, want %s", tc.in, FormatMillis(ms), ok, tc.want)
		}
		// Cross-check with the standard library where it applies.
		if st, err := time.Parse(time.RFC3339Nano, tc.in); err == nil && st.Truncate(time.Millisecond).UnixMilli() != ms && st.Year() > 0 {
			t.Errorf("%s: %d differs from time.Parse %d", tc.in, ms, st.UnixMilli())
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base(nil)))
	f.Add([]byte(order("order_placed", nil)))
	f.Add([]byte(`{"schema_version":2}`))
	f.Add([]byte("\xff"))
	f.Add([]byte(`[{"a":1}]`))
	// Bad UTF-8 split across the scanner's eight-byte word, and next to bad
	// syntax in either order (TestParseDetailsWithBadUTF8).
	f.Add([]byte(base(map[string]string{"user_id": "\"abcdefghijklmn\xe2\x82\""})))
	f.Add([]byte(base(map[string]string{"user_id": "\"\xff\\q\""})))
	f.Add([]byte(base(map[string]string{"user_id": "\"\\q\xff\""})))
	f.Add([]byte(base(map[string]string{"session_id": "\"a\\\"b\\u00e9\xc3\xa9\""})))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		rej := Parse(b, refMs, Limits{MaxEventBytes: 4096, MaxFutureMs: 600_000}, &ev)
		// Bad UTF-8 is reported first, wherever it is and whatever else is
		// wrong (the scanner checks it in its pass, Parse again on errors).
		if len(b) <= 4096 && !utf8.Valid(b) {
			want := fmt.Sprintf("value is not valid UTF-8 (first bad byte at offset %d)", firstInvalidUTF8(b))
			if rej == nil || rej.Reason != InvalidJSON || rej.Detail != want {
				t.Fatalf("Parse(%q) = %+v, want %s", b, rej, want)
			}
		}
		if rej == nil {
			// A valid event is a JSON object and its time round-trips.
			if ev.TimeMs > refMs+600_000 || len(ev.UserID) == 0 || len(ev.SessionID) == 0 {
				t.Fatalf("accepted an invalid event: %+v", ev)
			}
			if ev.Type.IsOrder() && ev.AmountMinor <= 0 {
				t.Fatalf("accepted amount %d", ev.AmountMinor)
			}
			return
		}
		if rej.Detail == "" {
			t.Fatalf("rejection %s without detail", rej.Reason)
		}
	})
}

// FuzzParseUUID holds the table-driven UUID parser to a plain reading of
// the format: 8-4-4-4-12 hex digits of either case.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{goodID, strings.ToUpper(goodID), "123e4567-e89b-12d3-a456-42661417400g",
		"123e4567-e89b-12d3-a456+426614174000", "123e4567e89b12d3a456426614174000", "", "g23e4567-e89b-12d3-a456-426614174000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseUUID([]byte(s))
		want, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		wantOK := len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
			strings.Count(s, "-") == 4 && err == nil
		if ok != wantOK || (ok && string(id[:]) != string(want)) {
			t.Fatalf("ParseUUID(%q) = %x, %v; want %x, %v", s, id, ok, want, wantOK)
		}
	})
}

// TestParseDetailsWithBadUTF8 pins the exact rejection texts where one
// scanning pass must answer what two passes did (UTF-8 first, then syntax):
// bad UTF-8 in a key, in a value, split across an eight-byte word of the
// scanner (the user_id value starts at offset 146, so its words start at
// 146, 154, ...), together with bad syntax in either order, after the
// object, and in a value that is not an object; and the values decoded from
// escapes the scanner reported.
func TestParseDetailsWithBadUTF8(t *testing.T) {
	const head = `{"schema_version":1,"event_id":"` + goodID + `","event_type":"page_view","event_time":"2026-01-01T00:00:00.000Z",`
	notUTF8 := func(offset int) string {
		return fmt.Sprintf("value is not valid UTF-8 (first bad byte at offset %d)", offset)
	}
	for _, tc := range []struct {
		value, want string // want: the detail, or "user=...,session=..." for a valid event
	}{
		{head + "\"us\xffer_id\":\"u1\",\"session_id\":\"s1\"}", notUTF8(138)},
		{head + "\"user_id\":\"abcdef\xc3\",\"session_id\":\"s1\"}", notUTF8(152)},
		{head + "\"user_id\":\"abcdefg\xe2\x82\",\"session_id\":\"s1\"}", notUTF8(153)},
		{head + "\"user_id\":\"abcdefgh\xc3\",\"session_id\":\"s1\"}", notUTF8(154)},
		{head + "\"user_id\":\"\xff\\q\",\"session_id\":\"s1\"}", notUTF8(146)},
		{head + "\"user_id\":\"\\q\xff\",\"session_id\":\"s1\"}", notUTF8(148)},
		{head + "\"user_id\":\"\xff\x01\",\"session_id\":\"s1\"}", notUTF8(146)},
		{head + "\"user_id\":\"\x01\xff\",\"session_id\":\"s1\"}", notUTF8(147)},
		{head + "\"user_id\":\"\\q\",\"session_id\":\"s1\"}", "value is not valid JSON: invalid escape character at byte 147"},
		{head + "\"user_id\":\"u1\",\"session_id\":\"s1\",}\xff", notUTF8(169)},
		{"[\"\xff\"]", notUTF8(2)},
		{head + "\"user_id\":\"a\\\"b\\u00e9\",\"session_id\":\"s\\u0031\"}", `user="a\"bé",session="s1"`},
		{head + "\"user_id\":\"abcdefg\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82\",\"session_id\":\"s1\"}", `user="abcdefgété 🙂",session="s1"`},
	} {
		var ev Event
		got := ""
		if rej := Parse([]byte(tc.value), refMs, DefaultLimits(), &ev); rej != nil {
			if rej.Reason != InvalidJSON {
				t.Errorf("%q: reason %s", tc.value, rej.Reason)
			}
			got = rej.Detail
		} else {
			got = fmt.Sprintf("user=%q,session=%q", ev.UserID, ev.SessionID)
		}
		if got != tc.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.value, got, tc.want)
		}
	}
}
