package rules

import (
	"fmt"
	"time"
)

// stall judges whether the newest window_end has advanced lately. It is
// measured from the Kafka timestamp of the first record that carried the
// newest window_end, not from when the dispatcher started, so a restarted
// dispatcher measures the same stall. Before any aggregate exists there is
// nothing to measure from, and no verdict.
func (e *Engine) stall(now time.Time) (Result, bool) {
	if !e.hasEnd {
		return Result{}, false
	}
	size := time.Duration(e.windowMs) * time.Millisecond
	limit := time.Duration(e.cfg.StallWindows) * size
	idle := max(now.Sub(e.progress), 0)
	start, end := time.UnixMilli(e.maxEnd-e.windowMs).UTC(), time.UnixMilli(e.maxEnd).UTC()
	r := Result{
		Rule: PipelineStall, Dimension: DimensionAll, Firing: idle >= limit, Severity: SeverityOf(PipelineStall),
		Title: "Pipeline stall",
		Value: idle.Seconds(), Threshold: limit.Seconds(),
		ValueText:     "window end unchanged for " + idle.Round(time.Second).String(),
		ThresholdText: fmt.Sprintf("%s (%d windows)", limit, e.cfg.StallWindows),
		WindowStart:   start, WindowEnd: end,
	}
	r.Summary = fmt.Sprintf("The newest window (%s – %s UTC) was first written at %s UTC and no newer window has come for %s; alert after %s (%d windows). Is the processor running, and is input arriving? streamlab_consumer_group_lag_seconds tells which.",
		stamp(start), clock(end), stamp(e.progress), idle.Round(time.Second), limit, e.cfg.StallWindows)
	return r, true
}
