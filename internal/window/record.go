package window

import (
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

func (e *Engine) record(w *win) *aggregate.Record {
	r := &aggregate.Record{
		SchemaVersion:   aggregate.SchemaVersion,
		WindowStart:     event.FormatMillis(w.start),
		WindowEnd:       event.FormatMillis(w.start + e.cfg.SizeMs),
		SourcePartition: e.partition,
		Revision:        w.revision,
		Events:          w.events,
		EventsByType:    make(map[string]int64, 4),
		Users:           int64(len(w.users)),
		Sessions:        int64(len(w.sessions)),
		Orders:          w.byType[event.OrderPlaced],
		RevenueMinor:    currencyMap(w.revenue),
		Refunds:         w.byType[event.OrderRefunded],
		RefundedMinor:   currencyMap(w.refunded),
		PaymentFailures: w.byType[event.PaymentFailed],
		Funnel:          make(map[string]int64, 4),
		ProductViews:    make(map[string]int64, len(w.productViews)),
		LateAccepted:    w.lateAccepted,
		Duplicates:      w.duplicates,
	}
	for t, n := range w.byType {
		if n != 0 {
			r.EventsByType[event.Type(t).String()] = n
		}
	}
	var steps [len(funnelBits)]int64
	for _, bits := range w.sessions {
		for i, bit := range funnelBits {
			if bits&bit != 0 {
				steps[i]++
			}
		}
	}
	for i, n := range steps {
		if n != 0 {
			r.Funnel[aggregate.FunnelSteps[i]] = n
		}
	}
	for p, n := range w.productViews {
		r.ProductViews[p] = n
	}
	return r
}

func currencyMap(m map[[3]byte]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for c, v := range m {
		if v != 0 {
			out[string(c[:])] = v
		}
	}
	return out
}
