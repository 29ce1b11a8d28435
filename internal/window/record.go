package window

import (
	"cmp"
	"slices"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

// typesByName and stepsByName are the event types and the funnel steps in
// the key order of their record fields, sorted once rather than per emission.
var (
	typesByName = func() []event.Type {
		ts := make([]event.Type, event.NumTypes)
		for i := range ts {
			ts[i] = event.Type(i)
		}
		slices.SortFunc(ts, func(a, b event.Type) int { return cmp.Compare(a.String(), b.String()) })
		return ts
	}()
	stepsByName = func() []int {
		is := make([]int, len(aggregate.FunnelSteps))
		for i := range is {
			is[i] = i
		}
		slices.SortFunc(is, func(a, b int) int { return cmp.Compare(aggregate.FunnelSteps[a], aggregate.FunnelSteps[b]) })
		return is
	}()
)

// view fills the engine's reusable View with the window's current state.
// Nothing here allocates once the window's bounds are formatted: keys are
// the window's own strings, kept in order as they arrive.
func (e *Engine) view(w *win) *aggregate.View {
	if w.startText == "" {
		w.startText, w.endText = event.FormatMillis(w.start), event.FormatMillis(w.start+e.cfg.SizeMs)
	}
	v := &e.scratch
	*v = aggregate.View{
		SchemaVersion:   aggregate.SchemaVersion,
		WindowStart:     w.startText,
		WindowEnd:       w.endText,
		SourcePartition: e.partition,
		Revision:        w.revision,
		Events:          w.events,
		EventsByType:    v.EventsByType[:0],
		Users:           int64(len(w.users)),
		Sessions:        int64(len(w.sessionBits)),
		Orders:          w.byType[event.OrderPlaced],
		RevenueMinor:    w.revenue.appendTo(v.RevenueMinor[:0]),
		Refunds:         w.byType[event.OrderRefunded],
		RefundedMinor:   w.refunded.appendTo(v.RefundedMinor[:0]),
		PaymentFailures: w.byType[event.PaymentFailed],
		Funnel:          v.Funnel[:0],
		ProductViews:    v.ProductViews[:0],
		LateAccepted:    w.lateAccepted,
		Duplicates:      w.duplicates,
	}
	for _, t := range typesByName {
		if n := w.byType[t]; n != 0 {
			v.EventsByType = append(v.EventsByType, aggregate.Count{Key: t.String(), N: n})
		}
	}
	var steps [len(funnelBits)]int64
	for _, bits := range w.sessionBits {
		for i, bit := range funnelBits {
			if bits&bit != 0 {
				steps[i]++
			}
		}
	}
	for _, i := range stepsByName {
		if steps[i] != 0 {
			v.Funnel = append(v.Funnel, aggregate.Count{Key: aggregate.FunnelSteps[i], N: steps[i]})
		}
	}
	for _, p := range w.products {
		v.ProductViews = append(v.ProductViews, aggregate.Count{Key: p, N: w.productViews(p)})
	}
	return v
}
