package gen_test

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file is a small, independent reading of contract §4 and §5 (outcomes
// 1-4), written with encoding/json on purpose so that it shares no code with
// the generator's hand-written encoder.

const (
	okOutcome         = "ok"
	oversized         = "oversized"
	invalidJSON       = "invalid_json"
	unsupportedSchema = "unsupported_schema"
	schemaViolation   = "schema_violation"
)

var (
	uuidRe      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	uuidV4Lower = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	intRe       = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	currencyRe  = regexp.MustCompile(`^[A-Z]{3}$`)
	// The exact form the generator promises: UTC, milliseconds, Z.
	msTimeRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

var eventTypes = map[string]struct{ product, order bool }{
	"page_view":        {},
	"product_view":     {product: true},
	"add_to_cart":      {product: true},
	"checkout_started": {},
	"order_placed":     {order: true},
	"payment_failed":   {order: true},
	"order_refunded":   {order: true},
}

// classify returns the §5 outcome of steps 1-4 for value, plus the decoded
// object when it is one.
func classify(value []byte, maxBytes int) (string, map[string]any) {
	if len(value) > maxBytes {
		return oversized, nil
	}
	if !utf8.Valid(value) {
		return invalidJSON, nil
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return invalidJSON, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidJSON, nil // trailing data after the first value
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return invalidJSON, nil
	}

	sv, ok := obj["schema_version"].(json.Number)
	if ok && intRe.MatchString(sv.String()) {
		if n, err := strconv.ParseInt(sv.String(), 10, 64); err != nil || n > 1 {
			return unsupportedSchema, obj
		}
	}
	if !ok || sv.String() != "1" {
		return schemaViolation, obj
	}
	str := func(k string) (string, bool) {
		s, ok := obj[k].(string)
		return s, ok && s != ""
	}
	if id, ok := str("event_id"); !ok || !uuidRe.MatchString(id) {
		return schemaViolation, obj
	}
	et, _ := str("event_type")
	spec, known := eventTypes[et]
	if !known {
		return schemaViolation, obj
	}
	ts, ok := str("event_time")
	if !ok {
		return schemaViolation, obj
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return schemaViolation, obj
	}
	if _, ok := str("user_id"); !ok {
		return schemaViolation, obj
	}
	if _, ok := str("session_id"); !ok {
		return schemaViolation, obj
	}
	if spec.product {
		if _, ok := str("product_id"); !ok {
			return schemaViolation, obj
		}
	}
	if spec.order {
		if _, ok := str("order_id"); !ok {
			return schemaViolation, obj
		}
		amt, ok := obj["amount_minor"].(json.Number)
		if !ok || !intRe.MatchString(amt.String()) {
			return schemaViolation, obj
		}
		if n, err := strconv.ParseInt(amt.String(), 10, 64); err != nil || n <= 0 {
			return schemaViolation, obj
		}
		if c, _ := obj["currency"].(string); !currencyRe.MatchString(c) {
			return schemaViolation, obj
		}
	}
	return okOutcome, obj
}
