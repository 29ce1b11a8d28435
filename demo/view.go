package demo

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

// view is the terminal's model: the latest revision of every window and
// partition, dead letters by reason and the alerts seen, fed by consumers of
// the output topics (the same topics Grafana reads through ClickHouse).
type view struct {
	mu        sync.Mutex
	windows   map[string]*aggregate.Record // window_start/partition -> latest revision
	emissions int64
	upserts   int64
	dlq       map[string]int64
	dlqSeen   map[string]bool // source coordinates: the topic is at-least-once
	alerts    []alertLine
	produced  func() int64
	processed func() int64
	started   time.Time
	lastN     int64
	lastAt    time.Time
	rate      float64
	keysHelp  bool
}

type alertLine struct {
	At     time.Time
	Status string
	Rule   string
	Title  string
}

func newView(produced, processed func() int64) *view {
	return &view{windows: map[string]*aggregate.Record{}, dlq: map[string]int64{}, dlqSeen: map[string]bool{},
		produced: produced, processed: processed, started: time.Now(), lastAt: time.Now()}
}

func (v *view) aggregate(r *aggregate.Record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.emissions++
	if r.Revision > 1 {
		v.upserts++
	}
	if old := v.windows[r.Key()]; old == nil || r.Revision >= old.Revision {
		v.windows[r.Key()] = r
	}
}

func (v *view) deadLetter(coords, reason string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dlqSeen[coords] {
		return
	}
	v.dlqSeen[coords] = true
	v.dlq[reason]++
}

func (v *view) alert(a alertLine) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.alerts = append(v.alerts, a)
}

// windowRow is one window summed over source partitions.
type windowRow struct {
	start                   string
	events, users, orders   int64
	revenue                 map[string]int64
	maxRevision, late, dups int64
	partitions              int
}

func (v *view) rows() []windowRow {
	by := map[string]*windowRow{}
	for _, r := range v.windows {
		w := by[r.WindowStart]
		if w == nil {
			w = &windowRow{start: r.WindowStart, revenue: map[string]int64{}}
			by[r.WindowStart] = w
		}
		w.events += r.Events
		w.users += r.Users
		w.orders += r.Orders
		for c, a := range r.RevenueMinor {
			w.revenue[c] += a
		}
		w.maxRevision = max(w.maxRevision, r.Revision)
		w.late += r.LateAccepted
		w.dups += r.Duplicates
		w.partitions++
	}
	out := make([]windowRow, 0, len(by))
	for _, w := range by {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// render draws one frame.
func (v *view) render(w io.Writer, clear bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if dt := now.Sub(v.lastAt).Seconds(); dt >= 1 {
		n := v.processed()
		v.rate = float64(n-v.lastN) / dt
		v.lastN, v.lastAt = n, now
	}
	var b strings.Builder
	if clear {
		b.WriteString("\x1b[H\x1b[2J")
	}
	fmt.Fprintf(&b, "streamlab demo — %s elapsed — produced %d, processed %d (%.0f events/s)\n\n",
		now.Sub(v.started).Round(time.Second), v.produced(), v.processed(), v.rate)
	b.WriteString("WINDOW (UTC)   EVENTS  USERS  ORDERS  REVENUE (minor units)            REV  LATE  DUPS\n")
	rows := v.rows()
	if len(rows) > 10 {
		rows = rows[len(rows)-10:]
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "%-13s %7d %6d %7d  %-32s %3d %5d %5d\n", r.start[11:19], r.events, r.users, r.orders, money(r.revenue), r.maxRevision, r.late, r.dups)
	}
	if len(rows) == 0 {
		b.WriteString("(no window emitted yet: the first closes when the watermark passes its end)\n")
	}
	fmt.Fprintf(&b, "\nDEAD LETTERS  %s\n", v.dlqLine())
	b.WriteString("\nALERTS\n")
	alerts := v.alerts
	if len(alerts) > 6 {
		alerts = alerts[len(alerts)-6:]
	}
	for _, a := range alerts {
		fmt.Fprintf(&b, "  %s  %-8s %-14s %s\n", a.At.Format("15:04:05"), a.Status, a.Rule, a.Title)
	}
	if len(alerts) == 0 {
		b.WriteString("  (none)\n")
	}
	if v.keysHelp {
		b.WriteString("\ntype + Enter: m malformed burst · l late burst · d duplicates · f future · o oversized · q quit\n")
	}
	io.WriteString(w, b.String())
}

func (v *view) dlqLine() string {
	var parts []string
	for _, r := range event.Reasons() {
		if n := v.dlq[string(r)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}

func money(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	s := strings.Join(parts, " ")
	if len(s) > 32 {
		s = s[:31] + "…"
	}
	return s
}

// summary is printed when a bounded run ends.
func (v *view) summary(w io.Writer, elapsed time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(v.processed()) / elapsed.Seconds()
	}
	fmt.Fprintf(w, "\nsummary: %d windows emitted (%d emissions, %d upsert revisions); %d events produced, %d processed (%.0f events/s)\n",
		len(v.rows()), v.emissions, v.upserts, v.produced(), v.processed(), rate)
	fmt.Fprintf(w, "summary: dead letters by reason: %s\n", v.dlqLine())
	firing := 0
	for _, a := range v.alerts {
		if a.Status == "firing" {
			firing++
		}
	}
	fmt.Fprintf(w, "summary: %d alerts (%d firing)\n", len(v.alerts), firing)
	for _, a := range v.alerts {
		fmt.Fprintf(w, "  %s %s %s: %s\n", a.At.Format("15:04:05"), a.Status, a.Rule, a.Title)
	}
}
