package dlq

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamlab/streamlab/internal/event"
)

// maxListed caps the per-letter and per-window lines of a report.
const maxListed = 20

// Render writes the report for people: what was selected, written, skipped
// and why, which letters cannot heal, and, after a follow, what became of
// the replayed records.
func (r *ReplayReport) Render(w io.Writer) error {
	p := r.Plan
	sel := fmt.Sprintf("selected %d dead letters", p.Selected)
	if r.Matched > p.Selected {
		sel += fmt.Sprintf(" (the oldest of %d matching)", r.Matched)
	}
	if r.DryRun {
		fmt.Fprintf(w, "dry run: %s: would write %d to %s, each into its source partition; skipped %d\n",
			sel, p.Written(), r.RawTopic, p.SkippedTotal())
	} else {
		fmt.Fprintf(w, "%s: written %d to %s, each into its source partition; skipped %d; failed %d\n",
			sel, r.Written, r.RawTopic, p.SkippedTotal(), r.Failed)
	}
	if p.SkippedTotal() > 0 {
		var parts []string
		for _, s := range Skips() {
			if n := p.Skipped[s]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, s))
			}
		}
		fmt.Fprintf(w, "skipped: %s\n", strings.Join(parts, ", "))
	}
	for i, e := range p.Truncated {
		if i == maxListed {
			fmt.Fprintf(w, "  … and %d more truncated\n", len(p.Truncated)-maxListed)
			break
		}
		fmt.Fprintf(w, "  not replayed: %s: %s; the original bytes are not in the DLQ\n", e.Source(), e.TruncationNote())
	}
	if r.Horizon != nil {
		r.renderHorizon(w)
	}
	if r.DryRun && r.Horizon != nil && len(p.Todo) > 0 {
		if err := r.renderBreakdown(w); err != nil {
			return err
		}
	}
	if f := r.Followed; f != nil {
		var back []string
		for _, reason := range event.Reasons() {
			if n := f.Back[reason]; n > 0 {
				back = append(back, fmt.Sprintf("%s %d", reason, n))
			}
		}
		b := ""
		if len(back) > 0 {
			b = " (" + strings.Join(back, ", ") + ")"
		}
		fmt.Fprintf(w, "after the replay, processor group %s (followed %s): healed %d, back in the DLQ %d%s, not processed yet %d\n",
			f.Group, f.Waited, f.Healed, f.BackTotal(), b, f.Pending)
		for _, line := range f.Behind {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	return nil
}

func (r *ReplayReport) renderHorizon(w io.Writer) {
	timed := 0
	for i := range r.Plan.Todo {
		if r.Plan.Todo[i].HasEventTime {
			timed++
		}
	}
	if timed == 0 {
		return
	}
	past, unknown := r.PastHorizon()
	fmt.Fprintf(w, "replay horizon (checkpoints of processor group %s): %d of %d with an event time are past it and will come back as late_event",
		r.Horizon.Group, past, timed)
	if unknown > 0 {
		fmt.Fprintf(w, "; %d unknown (no usable checkpoint)", unknown)
	}
	fmt.Fprintln(w)
}

// counts is one row of a breakdown.
type counts struct{ letters, within, past, unknown int }

func (c *counts) add(v Verdict) {
	c.letters++
	switch v {
	case Within:
		c.within++
	case Past:
		c.past++
	case Unknown:
		c.unknown++
	}
}

// renderBreakdown writes what a dry run would replay by reason, source
// partition and window, with the horizon verdicts.
func (r *ReplayReport) renderBreakdown(w io.Writer) error {
	h := r.Horizon
	byReason := map[event.Reason]*counts{}
	byPart := map[int32]*counts{}
	byWindow := map[int64]*counts{}
	for i := range r.Plan.Todo {
		l := &r.Plan.Todo[i].Letter
		v := h.Classify(l)
		bump(byReason, l.Reason, v)
		bump(byPart, l.Partition, v)
		if ws, ok := h.WindowStart(l); ok {
			bump(byWindow, ws, v)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, c *counts, extra ...string) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d", name, c.letters, c.within, c.past, c.unknown)
		for _, x := range extra {
			fmt.Fprintf(tw, "\t%s", x)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "\nREASON\tLETTERS\tWITHIN\tPAST\tUNKNOWN")
	for _, reason := range event.Reasons() {
		if c := byReason[reason]; c != nil {
			row(string(reason), c)
		}
	}
	fmt.Fprintln(tw, "\nPARTITION\tLETTERS\tWITHIN\tPAST\tUNKNOWN\tWATERMARK (NEWEST CHECKPOINT)")
	for _, p := range sortedKeys(byPart) {
		row(fmt.Sprint(p), byPart[p], watermarkNote(h.Partitions[p]))
	}
	if len(byWindow) > 0 {
		starts := make([]int64, 0, len(byWindow))
		for ws := range byWindow {
			starts = append(starts, ws)
		}
		slices.Sort(starts)
		fmt.Fprintln(tw, "\nWINDOW START\tLETTERS\tWITHIN\tPAST\tUNKNOWN")
		for i, ws := range starts {
			if i == maxListed {
				fmt.Fprintf(tw, "… %d more windows up to %s\n", len(starts)-maxListed, event.FormatMillis(starts[len(starts)-1]))
				break
			}
			row(event.FormatMillis(ws), byWindow[ws])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	legend := "\nWITHIN: the window is still kept for replays (it may pass the horizon before the replay is processed);\n" +
		"PAST: the window ended before the partition's watermark minus the allowed lateness and the replay retention: replayed, the event comes back as late_event;\n" +
		"UNKNOWN: no usable checkpoint of the partition.\n" +
		"Letters without an event time count in LETTERS only. The horizon decides only lateness: a letter whose bytes broke a rule\n" +
		"(invalid_json, unsupported_schema, schema_violation) fails again with the same reason, an oversized one unless --max-event-bytes was raised.\n"
	if c := h.Config; c != nil {
		legend = fmt.Sprintf("\nwindow %s, allowed lateness %s, replay retention %s (from the checkpoints)",
			ms(c.SizeMs), ms(c.AllowedLatenessMs), ms(c.ReplayRetentionMs)) + legend
	}
	_, err := io.WriteString(w, legend)
	return err
}

func bump[K comparable](m map[K]*counts, k K, v Verdict) {
	if m[k] == nil {
		m[k] = &counts{}
	}
	m[k].add(v)
}

func watermarkNote(ps *PartitionState) string {
	switch {
	case ps == nil:
		return "-"
	case ps.Engine == nil:
		return "unknown: " + ps.Unknown
	}
	wm, ok := ps.Engine.Watermark()
	if !ok {
		return "none yet (checkpoint " + ps.WrittenAt.UTC().Format(time.RFC3339) + ")"
	}
	return event.FormatMillis(wm) + " (checkpoint " + ps.WrittenAt.UTC().Format(time.RFC3339) + ")"
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }
