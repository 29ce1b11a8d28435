package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// totals is one window summed over its partitions' latest revisions.
type totals struct {
	start, end int64
	events     int64
	orders     int64
	failures   int64
	revenue    map[string]int64
}

func (w *window) totals() totals {
	t := totals{start: w.start, end: w.end, revenue: map[string]int64{}}
	for _, r := range w.parts {
		t.events += r.Events
		t.orders += r.Orders
		t.failures += r.PaymentFailures
		for c, v := range r.RevenueMinor {
			t.revenue[c] += v
		}
	}
	return t
}

// judged is the newest settled window and the settled windows before it:
// hist holds up to BaselineWindows of them, the baseline of the window
// rules; long also holds the RevenueDropWindows-1 before those, which
// revenue_drop judges with the newest against the windows before them all.
type judged struct {
	cur        totals
	hist, long []totals
	start, end time.Time
}

func (j judged) span() string { return clock(j.start) + " – " + clock(j.end) + " UTC" }

func (j judged) result(rule, dim, title string, firing bool) Result {
	return Result{Rule: rule, Dimension: dim, Firing: firing, Severity: SeverityOf(rule), Title: title,
		WindowStart: j.start, WindowEnd: j.end}
}

// partialWait is how many settle delays in all a window missing a
// partition's record waits before it is judged anyway.
const partialWait = 3

// newestSettled returns the window the window rules judge at now. A window
// is settled once the settle delay has passed since its first record and
// it holds a record from every source partition seen in the windows held;
// one still missing a partition is judged only after partialWait settle
// delays. Partitions emit a window when their own watermark passes it, and
// one worker lagging behind the others (a checkpoint, a loaded machine)
// would otherwise have a window judged on part of its partitions: a
// revenue "drop" of a third on a healthy stack. A partition that had no
// event in the window never sends one, hence the bound.
func (e *Engine) newestSettled(now time.Time) (judged, bool) {
	partitions := map[int32]bool{}
	for _, w := range e.windows {
		for p := range w.parts {
			partitions[p] = true
		}
	}
	var ws []*window
	for _, w := range e.windows {
		settle := e.cfg.settle(time.Duration(w.end-w.start) * time.Millisecond)
		if len(w.parts) < len(partitions) {
			settle *= partialWait
		}
		if !w.firstSeen.Add(settle).After(now) {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return judged{}, false
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].start < ws[j].start })
	n := len(ws) - 1
	j := judged{cur: ws[n].totals(), start: time.UnixMilli(ws[n].start).UTC(), end: time.UnixMilli(ws[n].end).UTC()}
	for _, w := range ws[max(0, n-e.cfg.BaselineWindows-(e.cfg.RevenueDropWindows-1)):n] {
		j.long = append(j.long, w.totals())
	}
	j.hist = j.long[max(0, len(j.long)-e.cfg.BaselineWindows):]
	return j, true
}

func (e *Engine) windowRules(now time.Time) []Result {
	j, ok := e.newestSettled(now)
	if !ok {
		return nil
	}
	out := e.revenueDrop(j)
	if r, ok := e.revenueZero(j); ok {
		out = append(out, r)
	}
	return append(out, e.paymentFailures(j))
}

// revenueDrop judges every currency: it fires when each of the newest
// RevenueDropWindows settled windows is below a robust band around the
// median of the windows before them; no verdict before RevenueMinHistory
// of those.
func (e *Engine) revenueDrop(j judged) []Result {
	runs := e.cfg.RevenueDropWindows - 1 // judged windows before j.cur
	if len(j.long)-runs < e.cfg.RevenueMinHistory {
		return nil
	}
	before := j.long[len(j.long)-runs:]
	j.hist = j.long[:len(j.long)-runs]
	// A run is consecutive windows: two low windows around a gap (an
	// outage, a window still waiting for a partition) are not two in a
	// row.
	consecutive := true
	for i, b := range before {
		next := j.cur
		if i+1 < len(before) {
			next = before[i+1]
		}
		consecutive = consecutive && b.end == next.start
	}
	currencies := map[string]bool{}
	for _, t := range append([]totals{j.cur}, j.hist...) {
		for c := range t.revenue {
			currencies[c] = true
		}
	}
	names := make([]string, 0, len(currencies))
	for c := range currencies {
		names = append(names, c)
	}
	sort.Strings(names)
	out := make([]Result, 0, len(names))
	xs := make([]float64, len(j.hist))
	for _, c := range names {
		for i, h := range j.hist {
			xs[i] = float64(h.revenue[c])
		}
		m, spread := median(xs), mad(xs)
		thr := min(m-e.cfg.RevenueMADK*1.4826*spread, m*(1-e.cfg.RevenueMinDrop))
		v := float64(j.cur.revenue[c])
		firing := consecutive && m > 0 && v < thr
		for _, b := range before {
			firing = firing && float64(b.revenue[c]) < thr
		}
		r := j.result(RevenueDrop, c, "Revenue drop: "+c, firing)
		r.Value, r.Baseline, r.Threshold = v, m, thr
		r.ValueText = money(c, v)
		r.BaselineText = fmt.Sprintf("%s (median of %d windows)", money(c, m), len(j.hist))
		r.ThresholdText = "below " + money(c, max(thr, 0))
		subject, inARow := "it", ""
		if runs > 0 {
			subject, inARow = "them", fmt.Sprintf(" in %d windows in a row", runs+1)
		}
		r.Summary = fmt.Sprintf("%s revenue %s in the window %s%s; the median of the %d windows before %s is %s (MAD %s); alert below %s%s.",
			c, money(c, v), j.span(), beforeText(c, before), len(j.hist), subject,
			money(c, m), money(c, spread), money(c, max(thr, 0)), inARow)
		out = append(out, r)
	}
	return out
}

// revenueZero: traffic flows but nothing is sold, once the shop has sold in
// a trailing window (right after start the first sessions have not reached
// checkout yet, and that is not an outage).
func (e *Engine) revenueZero(j judged) (Result, bool) {
	if len(j.hist) < e.cfg.RevenueMinHistory {
		return Result{}, false
	}
	var total int64
	for _, v := range j.cur.revenue {
		total += v
	}
	sold := false
	for _, h := range j.hist {
		for _, v := range h.revenue {
			sold = sold || v > 0
		}
	}
	r := j.result(RevenueZero, DimensionAll, "Zero revenue while traffic flows",
		sold && total == 0 && j.cur.events >= e.cfg.ZeroRevenueMinEvents)
	r.Value, r.Threshold = float64(total), float64(e.cfg.ZeroRevenueMinEvents)
	if total == 0 {
		r.ValueText = fmt.Sprintf("no revenue from %d events", j.cur.events)
	} else {
		r.ValueText = fmt.Sprintf("revenue from %d events", j.cur.events)
	}
	r.ThresholdText = fmt.Sprintf("zero revenue with at least %d events", e.cfg.ZeroRevenueMinEvents)
	r.Summary = fmt.Sprintf("%d events and %d orders in the window %s, revenue %d (minor units, all currencies); fires at zero revenue with at least %d events after sales in the %d windows before it.",
		j.cur.events, j.cur.orders, j.span(), total, e.cfg.ZeroRevenueMinEvents, len(j.hist))
	return r, true
}

// paymentFailures: the share of orders whose payment failed, with a
// minimum order count; the trailing median is shown for context.
func (e *Engine) paymentFailures(j judged) Result {
	ratio := 0.0
	if j.cur.orders > 0 {
		ratio = float64(j.cur.failures) / float64(j.cur.orders)
	}
	var ratios []float64
	for _, h := range j.hist {
		if h.orders > 0 {
			ratios = append(ratios, float64(h.failures)/float64(h.orders))
		}
	}
	r := j.result(PaymentFailures, DimensionAll, "Payment failure ratio",
		j.cur.orders >= e.cfg.PaymentMinOrders && ratio > e.cfg.PaymentFailureRatio)
	r.Value, r.Baseline, r.Threshold = ratio, median(ratios), e.cfg.PaymentFailureRatio
	r.ValueText = fmt.Sprintf("%s of orders (%d of %d)", pct(ratio), j.cur.failures, j.cur.orders)
	if len(ratios) > 0 {
		r.BaselineText = fmt.Sprintf("%s of orders (median of %d windows)", pct(r.Baseline), len(ratios))
	}
	r.ThresholdText = fmt.Sprintf("above %s with at least %d orders", pct(e.cfg.PaymentFailureRatio), e.cfg.PaymentMinOrders)
	r.Summary = fmt.Sprintf("%d payment failures in %d orders (%s) in the window %s; alert above %s with at least %d orders.",
		j.cur.failures, j.cur.orders, pct(ratio), j.span(), pct(e.cfg.PaymentFailureRatio), e.cfg.PaymentMinOrders)
	return r
}

// beforeText lists the revenue of the judged windows before the newest.
func beforeText(c string, before []totals) string {
	if len(before) == 0 {
		return ""
	}
	parts := make([]string, len(before))
	for i, b := range before {
		parts[i] = money(c, float64(b.revenue[c]))
	}
	label := " (the window before: "
	if len(before) > 1 {
		label = " (the windows before, oldest first: "
	}
	return label + strings.Join(parts, ", ") + ")"
}
