// Package aggregate defines the window aggregate record (contract §7), the value
// of every message on agg.window.v1 and every line of --aggregates-out.
package aggregate

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// SchemaVersion is the version of the record layout.
const SchemaVersion = 1

// FunnelSteps are the funnel keys, in funnel order.
var FunnelSteps = []string{"product_view", "add_to_cart", "checkout_started", "order_placed"}

// Record is one emission of one window of one source partition. Maps omit
// zero entries and encode as {} when empty, never null.
type Record struct {
	SchemaVersion   int              `json:"schema_version"`
	WindowStart     string           `json:"window_start"`
	WindowEnd       string           `json:"window_end"`
	SourcePartition int32            `json:"source_partition"`
	Revision        int64            `json:"revision"`
	Events          int64            `json:"events"`
	EventsByType    map[string]int64 `json:"events_by_type"`
	Users           int64            `json:"users"`
	Sessions        int64            `json:"sessions"`
	Orders          int64            `json:"orders"`
	RevenueMinor    map[string]int64 `json:"revenue_minor"`
	Refunds         int64            `json:"refunds"`
	RefundedMinor   map[string]int64 `json:"refunded_minor"`
	PaymentFailures int64            `json:"payment_failures"`
	Funnel          map[string]int64 `json:"funnel"`
	ProductViews    map[string]int64 `json:"product_views"`
	LateAccepted    int64            `json:"late_accepted"`
	Duplicates      int64            `json:"duplicates"`
}

// Key identifies the window of a record across revisions: the Kafka message
// key on agg.window.v1 and the dedup key downstream.
func (r *Record) Key() string {
	return r.WindowStart + "/" + strconv.FormatInt(int64(r.SourcePartition), 10)
}

// Marshal encodes the record as compact JSON with sorted map keys, so the
// same window state always gives the same bytes (idempotent re-emission):
// byte for byte what encoding/json gives, without its reflection. Nil maps
// encode as {}. It cannot fail; the error is kept for callers written
// against encoding/json.
func (r *Record) Marshal() ([]byte, error) {
	return r.View().AppendJSON(nil), nil
}

// Unmarshal decodes a record and checks the fields every consumer relies on.
func Unmarshal(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode aggregate: %w", err)
	}
	if r.SchemaVersion != SchemaVersion || r.WindowStart == "" || r.Revision < 1 {
		return nil, fmt.Errorf("decode aggregate: not a v%d record (schema_version %d, window_start %q, revision %d)",
			SchemaVersion, r.SchemaVersion, r.WindowStart, r.Revision)
	}
	return &r, nil
}
