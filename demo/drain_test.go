package demo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
)

// TestDrainConditions proves the two conditions the drain waits for on a
// broker, rather than trusting a run to win the race: the processor's
// group is caught up only once its committed offsets reach the raw topic's
// end offsets, and the view only once it has read every output record.
func TestDrainConditions(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &run{brokers: brokers, topics: topics, partitions: map[string]int{topics.Raw: 2, topics.Agg: 2}}

	w := kafkaio.NewWriter(brokers, topics.Raw)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("a"), Value: []byte("{}")}, kafka.Message{Key: []byte("b"), Value: []byte("{}")},
		kafka.Message{Key: []byte("c"), Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	ends, err := kafkaio.EndOffsets(ctx, brokers, topics.Raw, 2)
	if err != nil {
		t.Fatal(err)
	}
	ok, progress, err := r.processorCaughtUp(ctx)
	if err != nil || ok || progress != "3 messages not committed" {
		t.Fatalf("nothing committed: caught up %v, %q, %v", ok, progress, err)
	}
	commit := func(offsets map[int]int64) {
		t.Helper()
		var oc []kafka.OffsetCommit
		for p, o := range offsets {
			oc = append(oc, kafka.OffsetCommit{Partition: p, Offset: o})
		}
		res, err := (&kafka.Client{}).OffsetCommit(ctx, &kafka.OffsetCommitRequest{Addr: kafka.TCP(brokers...), GroupID: processorGroup,
			GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topics.Raw: oc}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range res.Topics {
			for _, p := range ps {
				if p.Error != nil {
					t.Fatal(p.Error)
				}
			}
		}
	}
	partial, short := map[int]int64{}, 0
	for p, end := range ends {
		partial[p] = max(0, end-1)
		short += int(end - partial[p])
	}
	commit(partial)
	if ok, progress, err := r.processorCaughtUp(ctx); err != nil || ok || progress != fmt.Sprintf("%d messages not committed", short) {
		t.Fatalf("the last message of each partition not committed: caught up %v, %q, %v", ok, progress, err)
	}
	commit(ends)
	if ok, _, err := r.processorCaughtUp(ctx); err != nil || !ok {
		t.Fatalf("every offset committed: caught up %v, %v", ok, err)
	}

	// The view's readers: behind until they read what was written.
	v := newView(DefaultWindow(), 2, topics, false, time.Now())
	wa := newWatcher(brokers, v)
	agg := kafkaio.NewWriter(brokers, topics.Agg)
	defer agg.Close()
	rec := &aggregate.Record{SchemaVersion: 1, WindowStart: "2026-03-01T12:00:00.000Z", WindowEnd: "2026-03-01T12:00:10.000Z", Revision: 1, Events: 5}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := agg.WriteMessages(ctx, kafka.Message{Key: []byte(rec.Key()), Value: b}); err != nil {
		t.Fatal(err)
	}
	watchCtx, stop := context.WithCancel(ctx)
	// Registered as consume registers them, before any reader has started.
	wa.mu.Lock()
	wa.next[topicPartition{topics.Agg, 0}], wa.next[topicPartition{topics.Agg, 1}] = 0, 0
	wa.mu.Unlock()
	if ok, progress, err := wa.caughtUp(ctx, topics.Agg); err != nil || ok || progress != "1 records not read yet" {
		t.Fatalf("before reading: caught up %v, %q, %v", ok, progress, err)
	}
	wa.watchTopics(watchCtx, topics.Agg, topics.DLQ, topics.Alerts, map[string]int{topics.Agg: 2})
	if err := waitFor(ctx, 30*time.Second, "the view to read the record", func(ctx context.Context) (bool, string, error) {
		return wa.caughtUp(ctx, topics.Agg)
	}); err != nil {
		t.Fatal(err)
	}
	stop()
	wa.wait()
	if f := v.frame(time.Now()); len(f.Rows) != 1 || f.Rows[0].Events != 5 {
		t.Errorf("caught up, yet the view shows %+v", f.Rows)
	}
}
