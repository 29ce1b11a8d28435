package oracle

import (
	"encoding/json"
	"fmt"
	"math/big"
)

// record is the §7 aggregate. Money sums are big.Int so that no input, however
// adversarial, can make the oracle itself overflow; they marshal as plain
// JSON integers.
type record struct {
	SchemaVersion   int                 `json:"schema_version"`
	WindowStart     string              `json:"window_start"`
	WindowEnd       string              `json:"window_end"`
	SourcePartition int32               `json:"source_partition"`
	Revision        int64               `json:"revision"`
	Events          int64               `json:"events"`
	EventsByType    map[string]int64    `json:"events_by_type"`
	Users           int64               `json:"users"`
	Sessions        int64               `json:"sessions"`
	Orders          int64               `json:"orders"`
	RevenueMinor    map[string]*big.Int `json:"revenue_minor"`
	Refunds         int64               `json:"refunds"`
	RefundedMinor   map[string]*big.Int `json:"refunded_minor"`
	PaymentFailures int64               `json:"payment_failures"`
	Funnel          map[string]int64    `json:"funnel"`
	ProductViews    map[string]int64    `json:"product_views"`
	LateAccepted    int64               `json:"late_accepted"`
	Duplicates      int64               `json:"duplicates"`
}

var funnelSteps = []string{"product_view", "add_to_cart", "checkout_started", "order_placed"}

// buildRecord recomputes the whole record from the window's event list.
// Every map is created non-nil so an empty one encodes as {}, and only ever
// receives entries with a count of at least one, so zeros are never present.
func buildRecord(w *window, size int64, partition int32) []byte {
	r := record{
		SchemaVersion:   1,
		WindowStart:     formatMs(w.start),
		WindowEnd:       formatMs(w.start + size),
		SourcePartition: partition,
		Revision:        w.revision,
		Events:          int64(len(w.events)),
		EventsByType:    map[string]int64{},
		RevenueMinor:    map[string]*big.Int{},
		RefundedMinor:   map[string]*big.Int{},
		Funnel:          map[string]int64{},
		ProductViews:    map[string]int64{},
		LateAccepted:    w.lateAccepted,
		Duplicates:      w.duplicates,
	}
	users := map[string]bool{}
	sessions := map[string]bool{}
	stepSessions := map[string]map[string]bool{}
	for _, step := range funnelSteps {
		stepSessions[step] = map[string]bool{}
	}
	addMoney := func(m map[string]*big.Int, currency string, amount int64) {
		if m[currency] == nil {
			m[currency] = new(big.Int)
		}
		m[currency].Add(m[currency], big.NewInt(amount))
	}

	for _, e := range w.events {
		r.EventsByType[e.typ]++
		users[e.user] = true
		sessions[e.session] = true
		if steps, ok := stepSessions[e.typ]; ok {
			steps[e.session] = true
		}
		switch e.typ {
		case "product_view":
			r.ProductViews[e.product]++
		case "order_placed":
			r.Orders++
			addMoney(r.RevenueMinor, e.currency, e.amount)
		case "order_refunded":
			r.Refunds++
			addMoney(r.RefundedMinor, e.currency, e.amount)
		case "payment_failed":
			r.PaymentFailures++
		}
	}
	r.Users = int64(len(users))
	r.Sessions = int64(len(sessions))
	for step, s := range stepSessions {
		if len(s) > 0 {
			r.Funnel[step] = int64(len(s))
		}
	}

	b, err := json.Marshal(r)
	if err != nil {
		// Only strings, integers and maps of them: marshalling cannot fail.
		panic(fmt.Sprintf("oracle: marshal record: %v", err))
	}
	return b
}
