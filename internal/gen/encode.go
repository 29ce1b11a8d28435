package gen

import (
	"strconv"
	"time"
)

// evType is a schema v1 event_type.
type evType uint8

const (
	pageView evType = iota
	productView
	addToCart
	checkoutStarted
	orderPlaced
	paymentFailed
	orderRefunded
	numEvTypes
)

var evTypeNames = [numEvTypes]string{
	"page_view", "product_view", "add_to_cart", "checkout_started",
	"order_placed", "payment_failed", "order_refunded",
}

func (t evType) isOrder() bool { return t >= orderPlaced }

// Bits of event.omit: required fields a malformed event leaves out.
const (
	omitSchemaVersion uint8 = 1 << iota
	omitEventID
	omitEventType
	omitEventTime
	omitUserID
	omitSessionID
	omitOrderID
	omitAmount
)

// event is one event before encoding. The *Raw fields are only set by the
// malformed-event builder: they replace the JSON literal of a required field
// so that it can be mistyped or invalid while the rest stays well formed.
type event struct {
	typ       evType
	idHi      uint64
	idLo      uint64
	timeMs    int64
	user      int32 // index into world.users; the message key
	userID    string
	sessionID string
	productID string // product_view, add_to_cart
	quantity  int    // add_to_cart; an extra field the schema says to ignore
	orderID   string // order types
	amount    int64  // order types
	currency  string // order types
	page      string
	referrer  string
	device    string
	country   string

	schemaRaw string
	idRaw     string
	typeRaw   string
	timeRaw   string
	amountRaw string
	omit      uint8
}

// encoder appends events as JSON. It is hand-written because reflection-based
// encoding/json would be the bottleneck of a generator that must produce
// hundreds of thousands of messages per second.
type encoder struct {
	// The date part of event_time only changes once a day, so it is cached.
	day       int64
	dayPrefix []byte
}

func newEncoder() *encoder {
	return &encoder{day: 1<<63 - 1}
}

func (e *encoder) appendEvent(b []byte, ev *event) []byte {
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
	}
	if ev.omit&omitSchemaVersion == 0 {
		key("schema_version")
		if ev.schemaRaw != "" {
			b = append(b, ev.schemaRaw...)
		} else {
			b = append(b, '1')
		}
	}
	if ev.omit&omitEventID == 0 {
		key("event_id")
		if ev.idRaw != "" {
			b = append(b, ev.idRaw...)
		} else {
			b = append(b, '"')
			b = appendUUID(b, ev.idHi, ev.idLo)
			b = append(b, '"')
		}
	}
	if ev.omit&omitEventType == 0 {
		key("event_type")
		if ev.typeRaw != "" {
			b = append(b, ev.typeRaw...)
		} else {
			b = append(b, '"')
			b = append(b, evTypeNames[ev.typ]...)
			b = append(b, '"')
		}
	}
	if ev.omit&omitEventTime == 0 {
		key("event_time")
		if ev.timeRaw != "" {
			b = append(b, ev.timeRaw...)
		} else {
			b = append(b, '"')
			b = e.appendTime(b, ev.timeMs)
			b = append(b, '"')
		}
	}
	if ev.omit&omitUserID == 0 {
		key("user_id")
		b = appendString(b, ev.userID)
	}
	if ev.omit&omitSessionID == 0 {
		key("session_id")
		b = appendString(b, ev.sessionID)
	}
	if ev.productID != "" {
		key("product_id")
		b = appendString(b, ev.productID)
	}
	if ev.quantity > 0 {
		key("quantity")
		b = strconv.AppendInt(b, int64(ev.quantity), 10)
	}
	if ev.typ.isOrder() || ev.typeRaw != "" {
		if ev.orderID != "" && ev.omit&omitOrderID == 0 {
			key("order_id")
			b = appendString(b, ev.orderID)
		}
		if ev.omit&omitAmount == 0 && (ev.amount != 0 || ev.amountRaw != "") {
			key("amount_minor")
			if ev.amountRaw != "" {
				b = append(b, ev.amountRaw...)
			} else {
				b = strconv.AppendInt(b, ev.amount, 10)
			}
		}
		if ev.currency != "" {
			key("currency")
			b = appendString(b, ev.currency)
		}
	}
	if ev.page != "" {
		key("page")
		b = appendString(b, ev.page)
	}
	if ev.referrer != "" {
		key("referrer")
		b = appendString(b, ev.referrer)
	}
	if ev.device != "" {
		key("device")
		b = appendString(b, ev.device)
	}
	if ev.country != "" {
		key("country")
		b = appendString(b, ev.country)
	}
	return append(b, '}')
}

const (
	msPerDay = 24 * 60 * 60 * 1000
	nsPerMs  = int64(time.Millisecond)
)

// floorDiv divides rounding toward minus infinity, so that instants before
// 1970 land in the right millisecond and day.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// appendTime appends the schema's timestamp form, RFC 3339 in UTC with exactly
// three fractional digits: 2026-01-01T00:00:01.234Z.
func (e *encoder) appendTime(b []byte, ms int64) []byte {
	day := floorDiv(ms, msPerDay)
	if day != e.day {
		e.day = day
		e.dayPrefix = time.UnixMilli(day*msPerDay).UTC().AppendFormat(e.dayPrefix[:0], "2006-01-02T")
	}
	b = append(b, e.dayPrefix...)
	rem := ms - day*msPerDay
	h := rem / 3_600_000
	m := rem / 60_000 % 60
	s := rem / 1000 % 60
	f := rem % 1000
	return append(b,
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10), 'Z')
}

const hexDigits = "0123456789abcdef"

// newUUID turns 128 random bits into a version 4, RFC 4122 variant UUID.
func newUUID(hi, lo uint64) (uint64, uint64) {
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xc0<<56) | 0x80<<56
	return hi, lo
}

// appendUUID appends the canonical lowercase 8-4-4-4-12 form.
func appendUUID(b []byte, hi, lo uint64) []byte {
	for i := 0; i < 8; i++ {
		if i == 4 || i == 6 {
			b = append(b, '-')
		}
		c := byte(hi >> (56 - 8*i))
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	for i := 0; i < 8; i++ {
		if i == 0 || i == 2 {
			b = append(b, '-')
		}
		c := byte(lo >> (56 - 8*i))
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

func uuidString(hi, lo uint64) string {
	var buf [36]byte
	return string(appendUUID(buf[:0], hi, lo))
}

// appendString appends s as a JSON string. Control characters are escaped, so
// an encoded value never contains a raw newline. Bytes that are not valid
// UTF-8 are copied unchanged: the malformed-event builder relies on that to
// produce invalid UTF-8 on purpose.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
