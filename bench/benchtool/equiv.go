package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
)

// record is the aggregate record both implementations write: the one the
// processor encodes (internal/aggregate), decoded from either side's topic.
type record = aggregate.Record

// output is what one implementation wrote: the final (highest) revision of
// every (window, partition) and its dead letters.
type output struct {
	name       string
	emissions  int
	finals     map[string]*record
	partitions map[string]int    // (window, source partition) -> partition of the aggregate topic it was written to
	letters    int               // dead-letter records read
	byReason   map[string]int    // distinct source (partition, offset), by reason
	bySource   map[string]string // source "partition@offset" -> reason (the first letter of it)
	duplicated int               // dead letters written more than once
	aborts     int               // abort markers in the two topics
}

func readOutput(ctx context.Context, brokers, name, aggTopic, dlqTopic string) (*output, error) {
	o := &output{name: name, finals: map[string]*record{}, partitions: map[string]int{}, byReason: map[string]int{}, bySource: map[string]string{}}
	err := readAll(ctx, brokers, aggTopic, func(m *kafka.Message) error {
		var r record
		if err := json.Unmarshal(m.Value, &r); err != nil {
			return fmt.Errorf("%s: aggregate at %s/%d@%d: %w", name, aggTopic, m.Partition, m.Offset, err)
		}
		o.emissions++
		if old := o.finals[r.Key()]; old == nil || r.Revision >= old.Revision {
			o.finals[r.Key()] = &r
		}
		if p, seen := o.partitions[r.Key()]; seen && p != m.Partition {
			o.partitions[r.Key()] = -1 // one key, several partitions: never equal to the other side's
		} else if !seen {
			o.partitions[r.Key()] = m.Partition
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readAll(ctx, brokers, dlqTopic, func(m *kafka.Message) error {
		o.letters++
		src := header(m, "dlq.source.partition") + "@" + header(m, "dlq.source.offset")
		if _, seen := o.bySource[src]; seen {
			o.duplicated++
			return nil
		}
		o.bySource[src] = header(m, "dlq.reason")
		o.byReason[header(m, "dlq.reason")]++
		return nil
	})
	o.aborts = aborts[aggTopic] + aborts[dlqTopic]
	return o, err
}

// totals are the per-window sums over partitions the brief asks to compare.
type totals struct {
	Events, Orders, Duplicates int64
	Revenue                    map[string]int64
}

func (o *output) perWindow() map[string]*totals {
	out := map[string]*totals{}
	for _, r := range o.finals {
		t := out[r.WindowStart]
		if t == nil {
			t = &totals{Revenue: map[string]int64{}}
			out[r.WindowStart] = t
		}
		t.Events += r.Events
		t.Orders += r.Orders
		t.Duplicates += r.Duplicates
		for c, v := range r.RevenueMinor {
			t.Revenue[c] += v
		}
	}
	return out
}

func (o *output) conservation() (counted, dups, dead int64) {
	for _, r := range o.finals {
		counted += r.Events
		dups += r.Duplicates
	}
	for _, n := range o.byReason {
		dead += int64(n)
	}
	return
}

func cmdEquiv(args []string) error {
	fs := flag.NewFlagSet("equiv", flag.ExitOnError)
	brokers := fs.String("brokers", "", "bootstrap brokers")
	events := fs.Int64("events", 0, "messages on the raw topic (for the conservation check)")
	aName := fs.String("a-name", "streamlab", "label of A")
	aAgg := fs.String("a-agg", "", "A's aggregate topic")
	aDLQ := fs.String("a-dlq", "", "A's dead-letter topic")
	bName := fs.String("b-name", "kstreams", "label of B")
	bAgg := fs.String("b-agg", "", "B's aggregate topic")
	bDLQ := fs.String("b-dlq", "", "B's dead-letter topic")
	strict := fs.Bool("strict", false, "exit 3 on any difference")
	fs.Parse(args)
	if *brokers == "" || *aAgg == "" || *aDLQ == "" || *bAgg == "" || *bDLQ == "" {
		return errors.New("equiv: --brokers, --a-agg, --a-dlq, --b-agg and --b-dlq are required")
	}
	ctx := context.Background()
	a, err := readOutput(ctx, *brokers, *aName, *aAgg, *aDLQ)
	if err != nil {
		return err
	}
	b, err := readOutput(ctx, *brokers, *bName, *bAgg, *bDLQ)
	if err != nil {
		return err
	}
	if report(os.Stdout, a, b, *events) > 0 && *strict {
		os.Exit(3)
	}
	return nil
}

// report prints the comparison as markdown and returns the number of differences.
func report(w io.Writer, a, b *output, events int64) int {
	diffs := 0
	var notes []string
	fmt.Fprintf(w, "#### Equivalence: %s vs %s\n\n", a.name, b.name)

	wa, wb := a.perWindow(), b.perWindow()
	windows := slices.Sorted(maps.Keys(union(wa, wb)))
	match := 0
	for _, ws := range windows {
		ta, tb := wa[ws], wb[ws]
		switch {
		case ta == nil:
			notes = append(notes, fmt.Sprintf("window %s: only in %s (%d events)", ws, b.name, tb.Events))
		case tb == nil:
			notes = append(notes, fmt.Sprintf("window %s: only in %s (%d events)", ws, a.name, ta.Events))
		case reflect.DeepEqual(ta, tb):
			match++
		default:
			notes = append(notes, fmt.Sprintf("window %s: %s events %d orders %d duplicates %d revenue %v; %s events %d orders %d duplicates %d revenue %v",
				ws, a.name, ta.Events, ta.Orders, ta.Duplicates, ta.Revenue, b.name, tb.Events, tb.Orders, tb.Duplicates, tb.Revenue))
		}
	}
	diffs += len(windows) - match
	fmt.Fprintf(w, "- windows (events, orders, revenue per currency, duplicates; summed over partitions): **%d of %d match** (%s has %d, %s has %d)\n",
		match, len(windows), a.name, len(wa), b.name, len(wb))

	keys := slices.Sorted(maps.Keys(union(a.finals, b.finals)))
	same := 0
	for _, k := range keys {
		ra, rb := a.finals[k], b.finals[k]
		if ra != nil && rb != nil && reflect.DeepEqual(normal(ra), normal(rb)) {
			same++
		} else if ra != nil && rb != nil {
			notes = append(notes, fmt.Sprintf("(window, partition) %s: final records differ in %s", k, fieldDiff(ra, rb)))
		}
	}
	fmt.Fprintf(w, "- final record per (window, partition) identical in every field, revision included: **%d of %d**\n", same, len(keys))
	diffs += len(keys) - same
	// Upserts are coalesced over the same aligned offset ranges on both sides, so the
	// number of aggregate records is part of the result, not only the final values.
	emitted := "**equal**"
	if a.emissions != b.emissions {
		emitted = "**differ**"
		diffs++
	}
	fmt.Fprintf(w, "- aggregate emissions (first emissions + coalesced upserts + shutdown flush): %s %d, %s %d — %s\n",
		a.name, a.emissions, b.name, b.emissions, emitted)

	// Both write aggregates keyed "window_start/partition" with murmur2 (kafka-go's
	// KeyBalancer here, the default partitioner there): every key in the same partition.
	samePart := 0
	for _, k := range keys {
		pa, okA := a.partitions[k]
		pb, okB := b.partitions[k]
		if okA && okB && pa == pb && pa >= 0 {
			samePart++
		} else if okA && okB {
			notes = append(notes, fmt.Sprintf("(window, partition) %s: written to aggregate partition %d by %s, %d by %s (-1: several)", k, pa, a.name, pb, b.name))
		}
	}
	fmt.Fprintf(w, "- aggregate records of each (window, partition) in the same partition of the output topic: **%d of %d**\n", samePart, len(keys))
	diffs += len(keys) - samePart

	reasons := slices.Sorted(maps.Keys(union(a.byReason, b.byReason)))
	var parts []string
	dlqOK := true
	for _, r := range reasons {
		mark := "="
		if a.byReason[r] != b.byReason[r] {
			mark, dlqOK = "≠", false
			diffs++
		}
		parts = append(parts, fmt.Sprintf("%s %d %s %d", r, a.byReason[r], mark, b.byReason[r]))
	}
	verdict := "**match**"
	if !dlqOK {
		verdict = "**differ**"
	}
	fmt.Fprintf(w, "- dead letters by reason (%s = %s): %s — %s\n", a.name, b.name, strings.Join(parts, ", "), verdict)
	sources := slices.Sorted(maps.Keys(union(a.bySource, b.bySource)))
	sameSrc := 0
	for _, src := range sources {
		ra, okA := a.bySource[src]
		rb, okB := b.bySource[src]
		if okA && okB && ra == rb {
			sameSrc++
		} else {
			notes = append(notes, fmt.Sprintf("dead letter of source %s: %s %q, %s %q", src, a.name, ra, b.name, rb))
		}
	}
	fmt.Fprintf(w, "- dead letters by source (partition, offset) with the same reason: **%d of %d**\n", sameSrc, len(sources))
	diffs += len(sources) - sameSrc
	for _, o := range []*output{a, b} {
		if o.aborts > 0 {
			fmt.Fprintf(w, "- **%s has %d aborted transactions** in its output topics: their records were read as if committed (kafka-go cannot filter them), so its figures above may count them\n", o.name, o.aborts)
			diffs++
		}
		if o.duplicated > 0 {
			fmt.Fprintf(w, "- %s wrote %d dead letters more than once (same source offset)\n", o.name, o.duplicated)
		}
	}
	if events > 0 {
		for _, o := range []*output{a, b} {
			c, d, l := o.conservation()
			ok := "holds"
			if c+d+l != events {
				ok, diffs = "**FAILS**", diffs+1
			}
			fmt.Fprintf(w, "- conservation (G1) for %s: counted %d + duplicates %d + dead letters %d = %d of %d produced: %s\n", o.name, c, d, l, c+d+l, events, ok)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nDifferences (first 20 of %d):\n\n", len(notes))
		for i, n := range notes {
			if i == 20 {
				break
			}
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w)
	return diffs
}

func union[V any](a, b map[string]V) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// normal makes empty and missing maps equal.
func normal(r *record) record {
	c := *r
	for _, m := range []*map[string]int64{&c.EventsByType, &c.RevenueMinor, &c.RefundedMinor, &c.Funnel, &c.ProductViews} {
		if len(*m) == 0 {
			*m = nil
		}
	}
	return c
}

func fieldDiff(a, b *record) string {
	na, nb := normal(a), normal(b)
	va, vb := reflect.ValueOf(na), reflect.ValueOf(nb)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			f := va.Type().Field(i).Name
			if va.Field(i).Kind() == reflect.Map {
				out = append(out, f)
			} else {
				out = append(out, fmt.Sprintf("%s %v vs %v", f, va.Field(i).Interface(), vb.Field(i).Interface()))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
