package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/streamlab/streamlab/internal/jsonscan"
)

// Limits are the parser's configurable bounds.
type Limits struct {
	MaxEventBytes int   // a value longer than this is oversized
	MaxFutureMs   int64 // event_time may be at most this far past the reference clock
}

// DefaultLimits are the contract's defaults: 64 KiB and 10 minutes.
func DefaultLimits() Limits { return Limits{MaxEventBytes: 65536, MaxFutureMs: 10 * 60 * 1000} }

// field indexes of the members the contract looks at.
const (
	fSchemaVersion = iota
	fEventID
	fEventType
	fEventTime
	fUserID
	fSessionID
	fProductID
	fOrderID
	fAmountMinor
	fCurrency
	numFields
)

var fieldNames = [numFields]string{
	"schema_version", "event_id", "event_type", "event_time", "user_id",
	"session_id", "product_id", "order_id", "amount_minor", "currency",
}

func fieldIndex(key []byte) int {
	// Switch on length first: cheaper than a map and no allocation.
	switch len(key) {
	case 8:
		if string(key) == "event_id" {
			return fEventID
		}
		if string(key) == "order_id" {
			return fOrderID
		}
		if string(key) == "currency" {
			return fCurrency
		}
	case 7:
		if string(key) == "user_id" {
			return fUserID
		}
	case 10:
		if string(key) == "event_type" {
			return fEventType
		}
		if string(key) == "event_time" {
			return fEventTime
		}
		if string(key) == "session_id" {
			return fSessionID
		}
		if string(key) == "product_id" {
			return fProductID
		}
	case 12:
		if string(key) == "amount_minor" {
			return fAmountMinor
		}
	case 14:
		if string(key) == "schema_version" {
			return fSchemaVersion
		}
	}
	return -1
}

type rawField struct {
	set     bool
	escaped bool // only meaningful for strings: raw contains backslashes
	kind    jsonscan.Kind
	raw     []byte // for strings: the bytes between the quotes
}

type members struct {
	f      [numFields]rawField
	keyErr bool // a key with escapes could not be decoded (cannot happen for valid JSON)
}

func (ms *members) visit(m jsonscan.Member) {
	key := m.Key
	if m.KeyEscaped {
		var s string
		// The scanner validated the string, so this only decodes escapes the
		// way encoding/json does (lone surrogates become U+FFFD).
		if err := json.Unmarshal(quoteRaw(key), &s); err != nil {
			ms.keyErr = true
			return
		}
		key = []byte(s)
	}
	i := fieldIndex(key)
	if i < 0 {
		return
	}
	rf := &ms.f[i]
	rf.set, rf.kind, rf.escaped = true, m.Kind, m.ValueEscaped
	if m.Kind == jsonscan.String {
		rf.raw = m.Value[1 : len(m.Value)-1]
	} else {
		rf.raw = m.Value
	}
}

func quoteRaw(b []byte) []byte {
	q := make([]byte, 0, len(b)+2)
	q = append(q, '"')
	q = append(q, b...)
	return append(q, '"')
}

// Parse applies outcomes 1-5 of contract §5 to one raw message value. refMs is
// the reference clock for future_event: the message's Kafka timestamp, or the
// wall clock in offline mode. On success it fills ev and returns nil.
func Parse(value []byte, refMs int64, lim Limits, ev *Event) *Rejection {
	if len(value) > lim.MaxEventBytes {
		return &Rejection{Reason: Oversized, Detail: fmt.Sprintf("value is %d bytes, limit is %d", len(value), lim.MaxEventBytes)}
	}
	// UTF-8 is checked while scanning (a valid document is ASCII outside
	// its strings); an invalid value is checked again whole, so that bad
	// UTF-8 is reported before bad syntax, wherever each is.
	var ms members
	if err := jsonscan.WalkUTF8(value, ms.visit); err != nil {
		if errors.Is(err, jsonscan.ErrInvalidUTF8) || !utf8.Valid(value) {
			return &Rejection{Reason: InvalidJSON, Detail: fmt.Sprintf("value is not valid UTF-8 (first bad byte at offset %d)", firstInvalidUTF8(value))}
		}
		if errors.Is(err, jsonscan.ErrNotObject) {
			return &Rejection{Reason: InvalidJSON, Detail: "value is valid JSON but not an object"}
		}
		if len(value) == 0 {
			return &Rejection{Reason: InvalidJSON, Detail: "value is empty"}
		}
		return &Rejection{Reason: InvalidJSON, Detail: "value is not valid JSON: " + err.Error()}
	}
	if ms.keyErr {
		return &Rejection{Reason: InvalidJSON, Detail: "value has an undecodable object key"}
	}
	// unsupported_schema is decided before anything else is looked at: a
	// newer schema may define every other field differently.
	schemaRej := checkSchemaVersion(&ms.f[fSchemaVersion])
	if schemaRej != nil && schemaRej.Reason == UnsupportedSchema {
		return schemaRej
	}
	// Parse event_time before the other checks so that a dead letter for any
	// later problem still carries the event time when it is known.
	timeDetail := ""
	tf := &ms.f[fEventTime]
	hasTime := false
	switch {
	case !tf.set:
		timeDetail = missing(fEventTime)
	case tf.kind != jsonscan.String:
		timeDetail = mistyped(fEventTime, "an RFC 3339 string", tf.kind)
	default:
		raw := tf.raw
		if tf.escaped {
			raw = unescape(raw)
		}
		if t, ok := ParseTime(raw); ok {
			ev.TimeMs, hasTime = t, true
		} else {
			timeDetail = fmt.Sprintf("event_time %s is not an RFC 3339 date-time", strconv.Quote(clip(raw)))
		}
	}
	if schemaRej != nil {
		schemaRej.TimeMs, schemaRej.HasTime = ev.TimeMs, hasTime
		return schemaRej
	}
	if detail := validate(&ms, ev, timeDetail); detail != "" {
		return &Rejection{Reason: SchemaViolation, Detail: detail, TimeMs: ev.TimeMs, HasTime: hasTime}
	}
	if ev.TimeMs > refMs+lim.MaxFutureMs {
		return &Rejection{Reason: FutureEvent, TimeMs: ev.TimeMs, HasTime: true,
			Detail: fmt.Sprintf("event_time %s is more than %s after the reference time %s",
				FormatMillis(ev.TimeMs), fmtMillisDuration(lim.MaxFutureMs), FormatMillis(refMs))}
	}
	return nil
}

func checkSchemaVersion(f *rawField) *Rejection {
	if !f.set {
		return &Rejection{Reason: SchemaViolation, Detail: missing(fSchemaVersion)}
	}
	if f.kind == jsonscan.Number && isIntLiteral(f.raw) && f.raw[0] != '-' {
		if string(f.raw) == "1" {
			return nil
		}
		if string(f.raw) != "0" {
			return &Rejection{Reason: UnsupportedSchema, Detail: fmt.Sprintf("schema_version %s is newer than the supported version 1", clip(f.raw))}
		}
	}
	return &Rejection{Reason: SchemaViolation, Detail: fmt.Sprintf("schema_version must be the integer 1, got %s", describe(f))}
}

// validate checks everything but schema_version in a fixed field order and
// returns the first problem, or "" when the event is valid.
func validate(ms *members, ev *Event, timeDetail string) string {
	f := &ms.f
	var ok bool
	idf := &f[fEventID]
	switch {
	case !idf.set:
		return missing(fEventID)
	case idf.kind != jsonscan.String:
		return mistyped(fEventID, "a UUID string", idf.kind)
	}
	idRaw := idf.raw
	if idf.escaped {
		idRaw = unescape(idRaw)
	}
	if ev.ID, ok = parseUUID(idRaw); !ok {
		return fmt.Sprintf("event_id %s is not a canonical 8-4-4-4-12 hex UUID", strconv.Quote(clip(idRaw)))
	}

	tf := &f[fEventType]
	switch {
	case !tf.set:
		return missing(fEventType)
	case tf.kind != jsonscan.String:
		return mistyped(fEventType, "a string", tf.kind)
	}
	traw := tf.raw
	if tf.escaped {
		traw = unescape(traw)
	}
	if ev.Type, ok = ParseType(string(traw)); !ok {
		return fmt.Sprintf("event_type %s is not one of the v1 types", strconv.Quote(clip(traw)))
	}

	if timeDetail != "" {
		return timeDetail
	}
	if ev.UserID, ok = nonEmpty(&f[fUserID]); !ok {
		return needString(&f[fUserID], fUserID)
	}
	if ev.SessionID, ok = nonEmpty(&f[fSessionID]); !ok {
		return needString(&f[fSessionID], fSessionID)
	}
	ev.ProductID, ev.OrderID, ev.AmountMinor, ev.Currency = nil, nil, 0, [3]byte{}
	if ev.Type.NeedsProduct() {
		if ev.ProductID, ok = nonEmpty(&f[fProductID]); !ok {
			return needString(&f[fProductID], fProductID) + " for " + ev.Type.String()
		}
	}
	if ev.Type.IsOrder() {
		if ev.OrderID, ok = nonEmpty(&f[fOrderID]); !ok {
			return needString(&f[fOrderID], fOrderID) + " for " + ev.Type.String()
		}
		af := &f[fAmountMinor]
		switch {
		case !af.set:
			return missing(fAmountMinor) + " for " + ev.Type.String()
		case af.kind != jsonscan.Number:
			return mistyped(fAmountMinor, "a positive integer", af.kind)
		case !isIntLiteral(af.raw):
			return fmt.Sprintf("amount_minor must be an integer literal in minor units, got %s", clip(af.raw))
		}
		amt, err := strconv.ParseInt(string(af.raw), 10, 64)
		switch {
		case err != nil && af.raw[0] != '-':
			return fmt.Sprintf("amount_minor %s exceeds the 64-bit limit %d", clip(af.raw), int64(math.MaxInt64))
		case err != nil || amt <= 0:
			return fmt.Sprintf("amount_minor must be greater than 0, got %s", clip(af.raw))
		}
		ev.AmountMinor = amt
		cf := &f[fCurrency]
		switch {
		case !cf.set:
			return missing(fCurrency) + " for " + ev.Type.String()
		case cf.kind != jsonscan.String:
			return mistyped(fCurrency, "a three-letter code", cf.kind)
		}
		craw := cf.raw
		if cf.escaped {
			craw = unescape(craw)
		}
		if len(craw) != 3 || !isUpper(craw[0]) || !isUpper(craw[1]) || !isUpper(craw[2]) {
			return fmt.Sprintf("currency %s must be three upper-case letters", strconv.Quote(clip(craw)))
		}
		copy(ev.Currency[:], craw)
	}
	return ""
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// isIntLiteral reports whether a valid JSON number has no fraction or exponent.
func isIntLiteral(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return len(raw) > 0
}

func nonEmpty(f *rawField) ([]byte, bool) {
	if !f.set || f.kind != jsonscan.String || len(f.raw) == 0 {
		return nil, false
	}
	if f.escaped {
		return unescape(f.raw), true // escapes never decode to nothing
	}
	return f.raw, true
}

func needString(f *rawField, i int) string {
	switch {
	case !f.set:
		return missing(i)
	case f.kind != jsonscan.String:
		return mistyped(i, "a non-empty string", f.kind)
	default:
		return fieldNames[i] + " must be a non-empty string"
	}
}

func missing(i int) string { return "missing required field " + fieldNames[i] }

func mistyped(i int, want string, got jsonscan.Kind) string {
	return fmt.Sprintf("%s must be %s, got a JSON %s", fieldNames[i], want, got)
}

func describe(f *rawField) string {
	if f.kind == jsonscan.String {
		return "the string " + strconv.Quote(clip(f.raw))
	}
	return clip(f.raw)
}

// clip keeps error messages short whatever the input.
func clip(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// unescape decodes a validated JSON string body with escapes the same way
// encoding/json does. It is the cold path: generated events have no escapes.
func unescape(raw []byte) []byte {
	var s string
	if err := json.Unmarshal(quoteRaw(raw), &s); err != nil {
		return raw // unreachable: the scanner validated the string
	}
	return []byte(s)
}

// ParseUUID reads a UUID in its 36-character form, in either case, as
// event_id is read (the window state's encoding uses it too).
func ParseUUID(b []byte) ([16]byte, bool) { return parseUUID(b) }

func parseUUID(b []byte) ([16]byte, bool) {
	var id [16]byte
	if len(b) != 36 || b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
		return id, false
	}
	// Every event has one: a table lookup per digit, and one check of
	// all of them at the end instead of a branch per digit.
	var bad byte
	for j, i := range uuidDigits {
		hi, lo := hexTable[b[i]], hexTable[b[i+1]]
		bad |= hi | lo
		id[j] = hi<<4 | lo&0x0f
	}
	return id, bad&0xf0 == 0
}

// uuidDigits are the positions of the 16 digit pairs of a 36-character UUID.
var uuidDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexTable is the value of each hex digit, and 0xff for any other byte.
var hexTable = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// FormatUUID writes an event id in canonical lower-case form.
func FormatUUID(id [16]byte) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[x>>4], hex[x&15]
		j += 2
	}
	return string(b[:])
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func fmtMillisDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}
