// Package event is the v1 event contract: it turns a raw message value into a
// validated Event or a Rejection carrying one of the dead-letter reasons of
// outcomes 1-5 (contract §4-§5). It has no I/O.
package event

import "fmt"

// Type is an event_type of schema v1.
type Type uint8

// The seven event types of schema v1, clickstream first, then orders.
const (
	PageView Type = iota
	ProductView
	AddToCart
	CheckoutStarted
	OrderPlaced
	PaymentFailed
	OrderRefunded
	NumTypes
)

var typeNames = [NumTypes]string{
	"page_view", "product_view", "add_to_cart", "checkout_started",
	"order_placed", "payment_failed", "order_refunded",
}

func (t Type) String() string {
	if t < NumTypes {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// TypeNames lists the event types in their canonical order.
func TypeNames() []string { return typeNames[:] }

// ParseType maps an event_type string to its Type.
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n == s {
			return Type(i), true
		}
	}
	return 0, false
}

// IsOrder reports whether the type carries order fields.
func (t Type) IsOrder() bool { return t >= OrderPlaced && t < NumTypes }

// NeedsProduct reports whether the type requires product_id.
func (t Type) NeedsProduct() bool { return t == ProductView || t == AddToCart }

// Event is a validated v1 event. Byte-slice fields alias the message value
// (or a private copy when the JSON string had escapes), so an Event is only
// valid while its value is; the window engine copies what it keeps.
type Event struct {
	ID          [16]byte
	Type        Type
	TimeMs      int64 // event_time, Unix milliseconds, UTC, truncated
	UserID      []byte
	SessionID   []byte
	ProductID   []byte // set for product_view and add_to_cart
	OrderID     []byte // set for order types
	AmountMinor int64  // set for order types, > 0
	Currency    [3]byte
}

// Reason is a dead-letter reason code (contract §5, outcomes 1-6).
type Reason string

// Dead-letter reasons in the order they are checked.
const (
	Oversized         Reason = "oversized"
	InvalidJSON       Reason = "invalid_json"
	UnsupportedSchema Reason = "unsupported_schema"
	SchemaViolation   Reason = "schema_violation"
	FutureEvent       Reason = "future_event"
	LateEvent         Reason = "late_event"
)

// Reasons lists every dead-letter reason in check order.
func Reasons() []Reason {
	return []Reason{Oversized, InvalidJSON, UnsupportedSchema, SchemaViolation, FutureEvent, LateEvent}
}

// Rejection says why a message cannot be used.
type Rejection struct {
	Reason Reason
	Detail string
	// TimeMs is the event time when the message got far enough to have a
	// valid event_time; HasTime says whether it is set.
	TimeMs  int64
	HasTime bool
}

func (r *Rejection) Error() string { return string(r.Reason) + ": " + r.Detail }
