//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/oracle"
)

// problems reports the first few mismatches in full and counts the rest, so
// a systematic bug does not bury the log under thousands of lines.
type problems struct {
	t     *testing.T
	what  string
	n     int
	limit int
}

func newProblems(t *testing.T, what string) *problems {
	return &problems{t: t, what: what, limit: 15}
}

func (p *problems) add(format string, args ...any) {
	p.t.Helper()
	p.n++
	if p.n <= p.limit {
		p.t.Errorf("%s: "+format, append([]any{p.what}, args...)...)
	}
}

func (p *problems) done() {
	p.t.Helper()
	if p.n > p.limit {
		p.t.Errorf("%s: %d problems in all (first %d shown)", p.what, p.n, p.limit)
	}
}

// expectation is what the oracle says one raw log must produce.
type expectation struct {
	rawTopic string
	raw      map[int][]kafka.Message
	byOffset map[int]map[int64]*kafka.Message
	res      map[int]oracle.Result

	produced, counted, duplicates, dead int
}

// expect runs the oracle over each raw partition exactly as the broker
// stored it: values, offsets and record timestamps.
func expect(rawTopic string, raw map[int][]kafka.Message, cfg oracle.Config) *expectation {
	e := &expectation{rawTopic: rawTopic, raw: raw, byOffset: map[int]map[int64]*kafka.Message{}, res: map[int]oracle.Result{}}
	for p, msgs := range raw {
		in := make([]oracle.Message, len(msgs))
		idx := make(map[int64]*kafka.Message, len(msgs))
		for i := range msgs {
			in[i] = oracle.Message{Offset: msgs[i].Offset, Value: msgs[i].Value, TimestampMs: msgs[i].Time.UnixMilli()}
			idx[msgs[i].Offset] = &msgs[i]
		}
		r := oracle.Run(cfg, int32(p), in)
		e.res[p] = r
		e.byOffset[p] = idx
		e.produced += len(msgs)
		e.counted += r.Counted
		e.duplicates += r.Duplicates
		e.dead += len(r.DeadLetters)
	}
	return e
}

func (e *expectation) summary() string {
	reasons := map[string]int{}
	emissions := 0
	for _, r := range e.res {
		emissions += len(r.Emissions)
		for _, d := range r.DeadLetters {
			reasons[d.Reason]++
		}
	}
	return fmt.Sprintf("oracle: %d messages = %d counted + %d duplicates + %d dead letters %v; %d emissions",
		e.produced, e.counted, e.duplicates, e.dead, reasons, emissions)
}

// winKey identifies a window of a source partition across revisions.
type winKey struct {
	start     string
	partition int32
}

// emKey identifies one emission: a window at one revision.
type emKey struct {
	winKey
	revision int64
}

func (k emKey) String() string { return fmt.Sprintf("%s/%d rev %d", k.start, k.partition, k.revision) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

type recordID struct {
	WindowStart     string `json:"window_start"`
	SourcePartition int32  `json:"source_partition"`
	Revision        int64  `json:"revision"`
}

// aggView is what a processor wrote to its aggregate topic.
type aggView struct {
	records   map[emKey][]byte // every distinct (window, partition, revision)
	latest    map[winKey][]byte
	latestRev map[winKey]int64
	read      int // records on the topic
	repeats   int // records repeating an emission already seen (redelivery after a crash)
}

func readAggregates(t *testing.T, ctx context.Context, b, topic string, partitions int) *aggView {
	t.Helper()
	v := &aggView{records: map[emKey][]byte{}, latest: map[winKey][]byte{}, latestRev: map[winKey]int64{}}
	pr := newProblems(t, "aggregate topic "+topic)
	defer pr.done()
	parts := readTopic(t, ctx, b, topic, partitions)
	for p := 0; p < partitions; p++ {
		for _, m := range parts[p] {
			v.read++
			r, err := aggregate.Unmarshal(m.Value)
			if err != nil {
				pr.add("%d@%d: %v", p, m.Offset, err)
				continue
			}
			if string(m.Key) != r.Key() {
				pr.add("%d@%d: key %q, want %q (window_start/source_partition)", p, m.Offset, m.Key, r.Key())
			}
			k := emKey{winKey{r.WindowStart, r.SourcePartition}, r.Revision}
			if prev, ok := v.records[k]; ok {
				v.repeats++
				// A redelivered emission must be the identical record:
				// downstream deduplicates by (window, partition, revision).
				if !bytes.Equal(prev, m.Value) {
					pr.add("two different records for %s:\n  %s\n  %s", k, prev, m.Value)
				}
				continue
			}
			v.records[k] = m.Value
			if r.Revision > v.latestRev[k.winKey] {
				v.latestRev[k.winKey] = r.Revision
				v.latest[k.winKey] = m.Value
			}
		}
	}
	return v
}

// checkAggregates compares the processor's aggregates with the oracle: the
// latest revision of every window (what dashboards show) and, when
// allEmissions is set, the full set of distinct emissions.
func (e *expectation) checkAggregates(t *testing.T, v *aggView, allEmissions bool) {
	t.Helper()
	pr := newProblems(t, "aggregates")
	defer pr.done()
	want := map[emKey][]byte{}
	finals := 0
	for p, r := range e.res {
		for ws, rec := range r.Final {
			finals++
			k := winKey{ws, int32(p)}
			got, ok := v.latest[k]
			if !ok {
				pr.add("window %s/%d missing; oracle's final record: %s", ws, p, rec)
				continue
			}
			if eq, diff := oracle.EqualJSON(got, rec); !eq {
				pr.add("latest revision of %s/%d differs from the oracle's final record (processor vs oracle):\n%s", ws, p, diff)
			}
		}
		for _, rec := range r.Emissions {
			var id recordID
			if err := json.Unmarshal(rec, &id); err != nil {
				t.Fatalf("oracle emission %s: %v", rec, err)
			}
			want[emKey{winKey{id.WindowStart, id.SourcePartition}, id.Revision}] = rec
		}
	}
	for k := range v.latest {
		if _, ok := e.res[int(k.partition)].Final[k.start]; !ok {
			pr.add("window %s/%d is not in the oracle's result: %s", k.start, k.partition, v.latest[k])
		}
	}
	if !allEmissions {
		t.Logf("aggregates: %d records read, %d distinct windows, oracle %d windows", v.read, len(v.latest), finals)
		return
	}
	for k, rec := range want {
		got, ok := v.records[k]
		if !ok {
			pr.add("emission %s missing; oracle emitted %s", k, rec)
			continue
		}
		if eq, diff := oracle.EqualJSON(got, rec); !eq {
			pr.add("emission %s differs from the oracle's (processor vs oracle):\n%s", k, diff)
		}
	}
	for k, rec := range v.records {
		if _, ok := want[k]; !ok {
			pr.add("emission %s is not one the oracle made: %s", k, rec)
		}
	}
	t.Logf("aggregates: %d records read = %d distinct emissions + %d exact repeats; oracle %d emissions, %d windows",
		v.read, len(v.records), v.repeats, len(want), finals)
}

// srcKey identifies a raw message by where it was read.
type srcKey struct {
	topic     string
	partition int32
	offset    int64
}

// dlqView is what a processor wrote to its DLQ topic, one letter per source
// message.
type dlqView struct {
	letters map[srcKey]*deadletter.Letter
	read    int
	repeats int
}

func readDLQ(t *testing.T, ctx context.Context, b, topic string, partitions int) *dlqView {
	t.Helper()
	v := &dlqView{letters: map[srcKey]*deadletter.Letter{}}
	pr := newProblems(t, "DLQ topic "+topic)
	defer pr.done()
	parts := readTopic(t, ctx, b, topic, partitions)
	for p := 0; p < partitions; p++ {
		for _, m := range parts[p] {
			v.read++
			l, err := deadletter.FromMessage(m)
			if err != nil {
				pr.add("%d@%d: %v", p, m.Offset, err)
				continue
			}
			k := srcKey{l.Topic, l.Partition, l.Offset}
			if prev, ok := v.letters[k]; ok {
				v.repeats++
				// Redelivered after a crash: the same decision on the same bytes;
				// only failed_at (wall clock) may differ.
				if prev.Reason != l.Reason || prev.HasEventTime != l.HasEventTime || prev.EventTimeMs != l.EventTimeMs ||
					!bytes.Equal(prev.Key, l.Key) || !bytes.Equal(prev.Value, l.Value) {
					pr.add("two different dead letters for %s/%d@%d: %s vs %s", k.topic, k.partition, k.offset, prev.Reason, l.Reason)
				}
				continue
			}
			v.letters[k] = l
		}
	}
	return v
}

func (v *dlqView) reasons() map[event.Reason]int {
	out := map[event.Reason]int{}
	for _, l := range v.letters {
		out[l.Reason]++
	}
	return out
}

// checkDLQ requires exactly the oracle's dead letters: same source
// messages, reasons and event times, and the original key and value byte
// for byte.
func (e *expectation) checkDLQ(t *testing.T, v *dlqView) {
	t.Helper()
	pr := newProblems(t, "DLQ")
	defer pr.done()
	want := map[srcKey]bool{}
	for p, r := range e.res {
		for _, d := range r.DeadLetters {
			k := srcKey{e.rawTopic, int32(p), d.Offset}
			want[k] = true
			l, ok := v.letters[k]
			if !ok {
				pr.add("%s/%d@%d (%s) missing", k.topic, p, d.Offset, d.Reason)
				continue
			}
			if string(l.Reason) != d.Reason {
				pr.add("%s/%d@%d: reason %s, oracle says %s (error: %s)", k.topic, p, d.Offset, l.Reason, d.Reason, l.Error)
			}
			gotTime := ""
			if l.HasEventTime {
				gotTime = event.FormatMillis(l.EventTimeMs)
			}
			if gotTime != d.EventTime {
				pr.add("%s/%d@%d: event_time %q, oracle says %q", k.topic, p, d.Offset, gotTime, d.EventTime)
			}
			src := e.byOffset[p][d.Offset]
			if !bytes.Equal(l.Key, src.Key) {
				pr.add("%s/%d@%d: key %q is not the original %q", k.topic, p, d.Offset, l.Key, src.Key)
			}
			if !bytes.Equal(l.Value, src.Value) {
				pr.add("%s/%d@%d: value (%d bytes) is not the original (%d bytes)", k.topic, p, d.Offset, len(l.Value), len(src.Value))
			}
			if l.Error == "" || l.FailedAt.IsZero() || l.ReplayCount != 0 {
				pr.add("%s/%d@%d: incomplete context: error %q, failed_at %s, replay_count %d", k.topic, p, d.Offset, l.Error, l.FailedAt, l.ReplayCount)
			}
		}
	}
	var extra []srcKey
	for k := range v.letters {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Slice(extra, func(i, j int) bool {
		if extra[i].partition != extra[j].partition {
			return extra[i].partition < extra[j].partition
		}
		return extra[i].offset < extra[j].offset
	})
	for _, k := range extra {
		pr.add("%s/%d@%d dead-lettered as %s, but the oracle counts it", k.topic, k.partition, k.offset, v.letters[k].Reason)
	}
	t.Logf("DLQ: %d records read = %d distinct dead letters + %d repeats %v", v.read, len(v.letters), v.repeats, v.reasons())
}

// checkConservation is G1: every raw message is counted in one window, a
// duplicate or a dead letter, exactly. Counted and duplicates come from the
// oracle and, independently, from the processor's latest aggregates; dead
// letters from the DLQ.
func (e *expectation) checkConservation(t *testing.T, agg *aggView, dlq *dlqView) {
	t.Helper()
	var events, dups int64
	for _, rec := range agg.latest {
		r, err := aggregate.Unmarshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		events += r.Events
		dups += r.Duplicates
	}
	dead := len(dlq.letters)
	if e.produced != e.counted+e.duplicates+dead {
		t.Errorf("G1: produced %d != counted %d + duplicates %d + dead-lettered %d (= %d)",
			e.produced, e.counted, e.duplicates, dead, e.counted+e.duplicates+dead)
	}
	if int64(e.produced) != events+dups+int64(dead) {
		t.Errorf("G1 (processor's own numbers): produced %d != events %d + duplicates %d in the latest aggregates + dead-lettered %d",
			e.produced, events, dups, dead)
	}
	t.Logf("G1: produced %d = counted %d + duplicates %d + dead-lettered %d", e.produced, events, dups, dead)
}

// verifyRun reads a processor's outputs and checks all of them against e.
func (e *expectation) verifyRun(t *testing.T, ctx context.Context, b string, out topicSet, partitions int) (*aggView, *dlqView) {
	t.Helper()
	agg := readAggregates(t, ctx, b, out.Agg, partitions)
	dlq := readDLQ(t, ctx, b, out.DLQ, partitions)
	e.checkAggregates(t, agg, true)
	e.checkDLQ(t, dlq)
	e.checkConservation(t, agg, dlq)
	return agg, dlq
}
