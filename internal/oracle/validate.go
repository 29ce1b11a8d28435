package oracle

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// event is a raw message that passed every schema check (§4).
type event struct {
	id       string // lower-cased, so duplicate detection ignores hex case
	typ      string
	timeMs   int64 // UTC, truncated to milliseconds
	user     string
	session  string
	product  string // only for product_view and add_to_cart
	amount   int64  // only for order types
	currency string // only for order types
}

var clickstreamTypes = map[string]bool{
	"page_view": true, "product_view": true, "add_to_cart": true, "checkout_started": true,
}

var orderTypes = map[string]bool{
	"order_placed": true, "payment_failed": true, "order_refunded": true,
}

// classify runs the checks of §5 steps 1–4 on one value. reason is "" when
// the value is a valid event. timeKnown reports that field validation was
// reached and event_time parsed, so a dead letter can carry the time.
func classify(value []byte, maxBytes int) (ev event, reason string, timeMs int64, timeKnown bool) {
	if len(value) > maxBytes {
		return event{}, ReasonOversized, 0, false
	}
	obj, ok := decodeObject(value)
	if !ok {
		return event{}, ReasonInvalidJSON, 0, false
	}
	if isUnsupportedSchema(obj["schema_version"]) {
		return event{}, ReasonUnsupportedSchema, 0, false
	}

	// From here on the message is in field validation: remember a valid
	// event_time even if another field is wrong.
	if s, isStr := obj["event_time"].(string); isStr {
		if t, err := parseEventTime(s); err == nil {
			timeMs, timeKnown = t, true
		}
	}
	ev, ok = validateFields(obj)
	if !ok {
		return event{}, ReasonSchemaViolation, timeMs, timeKnown
	}
	return ev, "", timeMs, timeKnown
}

// decodeObject accepts exactly one JSON object with optional surrounding
// JSON whitespace. Numbers stay json.Number so their literal text survives.
func decodeObject(b []byte) (map[string]any, bool) {
	// encoding/json silently replaces invalid UTF-8, so check it first.
	if !utf8.Valid(b) {
		return nil, false
	}
	// json.Valid demands exactly one value: it rejects trailing garbage
	// and a second value, which a Decoder alone would leave unread.
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	return obj, ok
}

// isDigits reports a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isUnsupportedSchema: an integer literal (digits only: no sign, fraction or
// exponent) whose value exceeds 1, of any size.
func isUnsupportedSchema(v any) bool {
	n, ok := v.(json.Number)
	if !ok || !isDigits(string(n)) {
		return false
	}
	var x big.Int
	if _, ok := x.SetString(string(n), 10); !ok {
		return false
	}
	return x.Cmp(big.NewInt(1)) > 0
}

func nonEmptyString(obj map[string]any, key string) (string, bool) {
	s, ok := obj[key].(string)
	return s, ok && s != ""
}

func validateFields(obj map[string]any) (event, bool) {
	var ev event
	if n, ok := obj["schema_version"].(json.Number); !ok || string(n) != "1" {
		return ev, false
	}

	id, ok := obj["event_id"].(string)
	if !ok || !isCanonicalUUID(id) {
		return ev, false
	}
	ev.id = strings.ToLower(id)

	typ, ok := obj["event_type"].(string)
	if !ok || !(clickstreamTypes[typ] || orderTypes[typ]) {
		return ev, false
	}
	ev.typ = typ

	ts, ok := obj["event_time"].(string)
	if !ok {
		return ev, false
	}
	t, err := parseEventTime(ts)
	if err != nil {
		return ev, false
	}
	ev.timeMs = t

	if ev.user, ok = nonEmptyString(obj, "user_id"); !ok {
		return ev, false
	}
	if ev.session, ok = nonEmptyString(obj, "session_id"); !ok {
		return ev, false
	}

	if typ == "product_view" || typ == "add_to_cart" {
		if ev.product, ok = nonEmptyString(obj, "product_id"); !ok {
			return ev, false
		}
	}

	if orderTypes[typ] {
		if _, ok = nonEmptyString(obj, "order_id"); !ok {
			return ev, false
		}
		n, isNum := obj["amount_minor"].(json.Number)
		if !isNum || !isDigits(string(n)) {
			// Also rejects a leading '-': such amounts are not > 0 anyway.
			return ev, false
		}
		amount, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || amount <= 0 {
			return ev, false
		}
		ev.amount = amount
		cur, isStr := obj["currency"].(string)
		if !isStr || !isCurrency(cur) {
			return ev, false
		}
		ev.currency = cur
	}
	return ev, true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isCanonicalUUID checks the 8-4-4-4-12 textual form only; version and
// variant bits are not part of the contract.
func isCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
