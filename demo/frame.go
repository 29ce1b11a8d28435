package demo

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
)

// frameWidth is the terminal width every line of a frame fits in. Lines are
// measured in bytes: a rune is at most 2 columns wide and every non-ASCII
// rune takes at least 2 bytes, so bytes bound the columns in any terminal,
// East Asian ambiguous widths included. The frame's own text is ASCII, so
// for it the bound is exact.
const frameWidth = 80

// frameData is everything one frame shows; render is a pure function of it.
type frameData struct {
	Now         time.Time
	Up          time.Duration
	Rate        float64 // messages decided per second
	Window      window.Config
	Partitions  int
	Topics      topic.Names
	Watermarks  []partitionWatermark
	G1          g1Line
	Rows        []windowRow
	Revenue     *windowRow // the newest window every partition reported, else the newest reported
	DeadLetters []reasonCount
	Chaos       []chaosLine
	Alerts      []incident.Alert
	Keys        bool
}

type partitionWatermark struct {
	Partition int32
	Ms        int64
	Known     bool // false until the partition counted an event
}

// g1Line is the live conservation check: Produced from the raw topic's end
// offsets, the rest from the processor's outcome counters, read before the
// offsets so that the difference is what is still in flight.
type g1Line struct {
	Known                                      bool
	Produced, Counted, Duplicates, DeadLetters int64
	Err                                        string
}

// windowRow is one window summed over the partitions that reported it.
type windowRow struct {
	StartMs, EndMs          int64
	State                   string
	Parts                   int // partitions that published it
	Events, Users, Orders   int64
	MaxRevision, Late, Dups int64
	Revenue                 map[string]int64
}

type reasonCount struct {
	Reason string
	N      int64
}

// reasonCounts orders dead letters as the contract orders the reasons,
// then any reason it does not know, by name.
func reasonCounts(m map[string]int64) []reasonCount {
	var out []reasonCount
	known := map[string]bool{}
	for _, r := range event.Reasons() {
		known[string(r)] = true
		if n := m[string(r)]; n > 0 {
			out = append(out, reasonCount{string(r), n})
		}
	}
	var other []string
	for r := range m {
		if !known[r] {
			other = append(other, r)
		}
	}
	slices.Sort(other)
	for _, r := range other {
		out = append(out, reasonCount{r, m[r]})
	}
	return out
}

// render draws one frame: lines of at most frameWidth bytes, each ending
// in a newline.
func (f frameData) render() string {
	sections := [][]string{f.header(), {""}, f.g1(), {""}, f.table(), {""}, f.revenue(), f.deadLetters(), f.chaos(), f.alerts()}
	if f.Keys {
		sections = append(sections, []string{
			"keys + Enter: m malformed  l late  d duplicate  f future  o oversized",
			"              s skewed  q quit"})
	}
	var b strings.Builder
	for _, lines := range sections {
		for _, l := range lines {
			b.WriteString(clip(l, frameWidth))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (f frameData) header() []string {
	out := []string{fmt.Sprintf("streamlab demo  %s UTC  up %s  %s msg/s decided", f.Now.UTC().Format("15:04:05"),
		f.Up.Round(time.Second), strconv.FormatFloat(f.Rate, 'f', 0, 64))}
	var wms []string
	for _, w := range f.Watermarks {
		t := "-"
		if w.Known {
			t = time.UnixMilli(w.Ms).UTC().Format("15:04:05.000")
		}
		wms = append(wms, fmt.Sprintf("p%d %s", w.Partition, t))
	}
	out = append(out, wrapItems("WATERMARK ", "          ", wms)...)
	return append(out, fmt.Sprintf("          window %s, out-of-orderness %s, allowed lateness %s",
		ms(f.Window.SizeMs), ms(f.Window.OutOfOrdernessMs), ms(f.Window.AllowedLatenessMs)))
}

func (f frameData) deadLetters() []string {
	if len(f.DeadLetters) == 0 {
		return []string{"DEAD LETTERS  none yet"}
	}
	var items []string
	for _, d := range f.DeadLetters {
		items = append(items, fmt.Sprintf("%s %d", d.Reason, d.N))
	}
	return wrapItems("DEAD LETTERS  ", "              ", items)
}

func (f frameData) chaos() []string {
	if len(f.Chaos) == 0 {
		return nil
	}
	out := []string{"CHAOS"}
	for _, c := range f.Chaos {
		out = append(out, "  "+c.at.UTC().Format("15:04:05")+"  "+c.text())
	}
	return out
}

func (f frameData) alerts() []string {
	if len(f.Alerts) == 0 {
		return []string{"ALERTS  none"}
	}
	out := []string{"ALERTS"}
	for _, a := range f.Alerts {
		out = append(out, alertLine(a))
	}
	return out
}

func alertLine(a incident.Alert) string {
	return fmt.Sprintf("  %s  %-8s  %s  %s", clock(a.FiredAt), a.Status, a.IncidentKey(), a.Title)
}

func (f frameData) g1() []string {
	if !f.G1.Known {
		return []string{"G1  (first reading at the next refresh)"}
	}
	g := f.G1
	if g.Err != "" {
		return []string{clip("G1  end offsets of "+f.Topics.Raw+" unavailable: "+g.Err, frameWidth)}
	}
	items := []string{
		fmt.Sprintf("produced %d", g.Produced), fmt.Sprintf("= counted %d", g.Counted),
		fmt.Sprintf("+ duplicates %d", g.Duplicates), fmt.Sprintf("+ dead letters %d", g.DeadLetters),
	}
	note := "    produced: end offsets of " + f.Topics.Raw + "; the rest: processor counters"
	switch inFlight := g.Produced - g.Counted - g.Duplicates - g.DeadLetters; {
	case inFlight > 0:
		items = append(items, fmt.Sprintf("+ in flight %d", inFlight))
	case inFlight < 0:
		// Counters are not exactly-once: after a rebalance the new owner
		// decides again what came after the last checkpoint.
		items = append(items, fmt.Sprintf("- decided twice %d", -inFlight))
		note = "    decided twice: reprocessed after a rebalance (the outputs dedupe them)"
	}
	return append(wrapSep("G1  ", "    ", " ", items), note)
}

func (f frameData) table() []string {
	wcol := 8
	layout := "15:04:05"
	if f.Window.SizeMs%1000 != 0 {
		wcol, layout = 12, "15:04:05.000"
	}
	row := func(w, state, parts, events, users, orders, rev, late, dups string) string {
		return fmt.Sprintf("%-*s  %-7s  %5s %8s %7s %7s %5s %6s %6s", wcol, w, state, parts, events, users, orders, rev, late, dups)
	}
	out := []string{row("WINDOW", "STATE", "PARTS", "EVENTS", "USERS", "ORDERS", "REV", "LATE", "DUPS")}
	for _, r := range f.Rows {
		start := time.UnixMilli(r.StartMs).UTC().Format(layout)
		parts := fmt.Sprintf("%d/%d", r.Parts, f.Partitions)
		if r.Parts == 0 {
			out = append(out, row(start, r.State, parts, "-", "-", "-", "-", "-", "-"))
			continue
		}
		out = append(out, row(start, r.State, parts, fit(r.Events, 8), fit(r.Users, 7), fit(r.Orders, 7),
			fit(r.MaxRevision, 5), fit(r.Late, 6), fit(r.Dups, 6)))
	}
	if len(f.Rows) == 0 {
		out = append(out, "(no window yet: the first opens with the first counted event)")
	}
	return append(out, fmt.Sprintf("open: watermark < end  emitted: >= end  final: >= end + %s lateness",
		ms(f.Window.AllowedLatenessMs)))
}

func (f frameData) revenue() []string {
	r := f.Revenue
	if r == nil {
		return []string{"REVENUE   (no window published yet)"}
	}
	head := fmt.Sprintf("REVENUE   window %s, %s, %d/%d partitions, major units",
		time.UnixMilli(r.StartMs).UTC().Format("15:04:05"), r.State, r.Parts, f.Partitions)
	codes := make([]string, 0, len(r.Revenue))
	for c := range r.Revenue {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	items := make([]string, 0, len(codes))
	for _, c := range codes {
		items = append(items, formatMoney(c, r.Revenue[c]))
	}
	if len(items) == 0 {
		items = []string{"no orders"}
	}
	return append([]string{head}, wrapItems("  ", "  ", items)...)
}

func (c *chaosLine) text() string {
	if c.note != "" {
		return c.note
	}
	s := fmt.Sprintf("%s: burst of %d %s", c.source, c.burst.Count, c.burst.Kind)
	switch {
	case c.refused != "":
		return s + " not queued: " + c.refused
	case !c.done:
		return s + " queued"
	case c.err != nil && c.written > 0:
		return fmt.Sprintf("%s queued -> written %d, then failed: %v", s, c.written, c.err)
	case c.err != nil:
		return fmt.Sprintf("%s queued -> not written: %v", s, c.err)
	}
	return fmt.Sprintf("%s queued -> written %d", s, c.written)
}

// clock shows an RFC 3339 instant as its UTC time of day.
func clock(rfc3339 string) string {
	if t, err := time.Parse(time.RFC3339, rfc3339); err == nil {
		return t.UTC().Format("15:04:05")
	}
	return rfc3339
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// fit right-aligns n in width columns, in thousands (k), millions (M)...
// when its digits do not fit.
func fit(n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e3, "k"}, {1e6, "M"}, {1e9, "G"}, {1e12, "T"}, {1e15, "P"}, {1e18, "E"}} {
		if len(s) <= width {
			break
		}
		s = strconv.FormatFloat(float64(n)/u.div, 'f', 1, 64) + u.suffix
	}
	return s
}

// wrapItems joins items two spaces apart, starting with head and going on
// under indent, in lines of at most frameWidth bytes.
func wrapItems(head, indent string, items []string) []string {
	return wrapSep(head, indent, "  ", items)
}

// wrapSep is wrapItems with sep between items.
func wrapSep(head, indent, sep string, items []string) []string {
	var out []string
	line, empty := head, true
	for _, it := range items {
		it = clip(it, frameWidth-len(indent))
		sep := sep
		if empty {
			sep = ""
		}
		if !empty && len(line)+len(sep)+len(it) > frameWidth {
			out = append(out, line)
			line, sep = indent, ""
		}
		line += sep + it
		empty = false
	}
	return append(out, line)
}

// clip makes s safe to print: control characters (a dead-letter reason or
// an alert title could carry an escape sequence) become '?', and a string
// over n bytes is cut at a rune boundary and ends in "...".
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
