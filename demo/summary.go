package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/topic"
)

// Summary is what a run left on the topics, read after the drain (the
// processor's final flush included).
type Summary struct {
	Elapsed time.Duration
	// Produced is the number of records on the raw topic: its end offsets
	// once every writer stopped.
	Produced int64
	// Written is what the producer and the chaos bursts had acknowledged;
	// it equals Produced unless something else wrote to the raw topic.
	Written int64
	// Counted and Duplicates are sums over the latest revision of every
	// window and partition on the aggregate topic.
	Counted, Duplicates int64
	// DeadLetters are the distinct source offsets on the DLQ topic (it is
	// at-least-once), by reason in DeadLettersByReason.
	DeadLetters         int64
	DeadLettersByReason map[string]int64
	// Decided are the processor's outcome counters (counted, duplicate or a
	// dead-letter reason). They are not exactly-once: after a rebalance a
	// message can be decided twice, while the outputs stay exact.
	Decided map[string]int64
	// Windows, Emissions and Upserts describe the aggregate topic: distinct
	// windows, records, records with a revision above 1.
	Windows            int
	Emissions, Upserts int64
	Alerts             []incident.Alert
}

// G1Holds reports whether produced = counted + duplicates + dead letters.
func (s *Summary) G1Holds() bool {
	return s.Produced == s.Counted+s.Duplicates+s.DeadLetters
}

func (r *run) summary(ctx context.Context, elapsed time.Duration) (*Summary, error) {
	onTopic, err := r.produced(ctx)
	if err != nil {
		return nil, err
	}
	written, err := gather(r.reg, "streamlab_producer_messages_total", "kind")
	if err != nil {
		return nil, err
	}
	s := &Summary{Elapsed: elapsed, Produced: onTopic, Written: r.chaosWritten.Load(), Decided: map[string]int64{}}
	for _, n := range written {
		s.Written += int64(n)
	}
	v := r.view
	v.mu.Lock()
	defer v.mu.Unlock()
	maps.Copy(s.Decided, v.sample.outcomes)
	starts := map[string]bool{}
	for _, rec := range v.windows {
		s.Counted += rec.Events
		s.Duplicates += rec.Duplicates
		starts[rec.WindowStart] = true
	}
	s.Windows = len(starts)
	s.Emissions, s.Upserts = v.emissions, v.upserts
	s.DeadLettersByReason = maps.Clone(v.dlq)
	for _, n := range v.dlq {
		s.DeadLetters += n
	}
	s.Alerts = append(s.Alerts, v.alerts...)
	return s, nil
}

// write prints the summary under the last frame, in lines that fit it.
func (s *Summary) write(w io.Writer, t topic.Names) {
	const in = "         "
	var lines []string
	add := func(head, sep string, items ...string) {
		lines = append(lines, wrapSep(head, in, sep, items)...)
	}
	add("summary: ", " ", fmt.Sprintf("%d windows emitted (%d emissions, %d upsert revisions) in %s",
		s.Windows, s.Emissions, s.Upserts, s.Elapsed.Round(time.Second)))
	verdict := "G1 holds after the final flush:"
	if !s.G1Holds() {
		verdict = fmt.Sprintf("G1 DOES NOT HOLD after the final flush (off by %d):",
			s.Produced-s.Counted-s.Duplicates-s.DeadLetters)
	}
	add("summary: ", " ", verdict, fmt.Sprintf("produced %d", s.Produced), fmt.Sprintf("= counted %d", s.Counted),
		fmt.Sprintf("+ duplicates %d", s.Duplicates), fmt.Sprintf("+ dead letters %d", s.DeadLetters))
	add(in, " ", strings.Fields(fmt.Sprintf("(produced: end offsets of %s, writers acknowledged %d; counted and "+
		"duplicates: the latest revision of each window and partition on %s; dead letters: distinct source "+
		"offsets on %s)", t.Raw, s.Written, t.Agg, t.DLQ))...)
	decided := g1FromSample(sample{outcomes: s.Decided})
	agree := "agree"
	if decided.Counted != s.Counted || decided.Duplicates != s.Duplicates || decided.DeadLetters != s.DeadLetters {
		agree = "differ"
	}
	add(in, " ", "the processor's outcome counters "+agree+":", fmt.Sprintf("counted %d,", decided.Counted),
		fmt.Sprintf("duplicates %d,", decided.Duplicates), fmt.Sprintf("dead letters %d", decided.DeadLetters))
	var reasons []string
	for _, rc := range reasonCounts(s.DeadLettersByReason) {
		reasons = append(reasons, fmt.Sprintf("%s %d", rc.Reason, rc.N))
	}
	if len(reasons) == 0 {
		reasons = []string{"none"}
	}
	add("summary: dead letters by reason: ", "  ", reasons...)
	firing := 0
	for _, a := range s.Alerts {
		if a.Status == incident.Firing {
			firing++
		}
	}
	lines = append(lines, fmt.Sprintf("summary: %d alerts (%d firing)", len(s.Alerts), firing))
	for _, a := range s.Alerts {
		lines = append(lines, clip(alertLine(a), frameWidth))
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
