package demo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// topicPartition names one partition of one topic.
type topicPartition struct {
	topic     string
	partition int
}

// watcher consumes output topics into the view and remembers how far it
// read, so that the shutdown can wait until it has read everything.
type watcher struct {
	brokers []string
	view    *view
	wg      sync.WaitGroup
	mu      sync.Mutex
	next    map[topicPartition]int64 // next offset to read
}

func newWatcher(brokers []string, v *view) *watcher {
	return &watcher{brokers: brokers, view: v, next: map[topicPartition]int64{}}
}

// watchTopics starts one reader per partition of the aggregate, DLQ and
// alert topics.
func (w *watcher) watchTopics(ctx context.Context, agg, dlq, alerts string, counts map[string]int) {
	for p := range counts[agg] {
		w.consume(ctx, topicPartition{agg, p}, func(m kafka.Message) {
			if r, err := aggregate.Unmarshal(m.Value); err == nil {
				w.view.aggregate(r)
			}
		})
	}
	for p := range counts[dlq] {
		w.consume(ctx, topicPartition{dlq, p}, func(m kafka.Message) {
			if l, err := deadletter.FromMessage(m); err == nil {
				w.view.deadLetter(l)
			}
		})
	}
	for p := range counts[alerts] {
		w.consume(ctx, topicPartition{alerts, p}, func(m kafka.Message) {
			if a, err := incident.Unmarshal(m.Value); err == nil {
				w.view.alert(a)
			}
		})
	}
}

func (w *watcher) consume(ctx context.Context, tp topicPartition, fn func(kafka.Message)) {
	w.mu.Lock()
	w.next[tp] = 0
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: w.brokers, Topic: tp.topic, Partition: tp.partition,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return
			}
			fn(m)
			w.mu.Lock()
			w.next[tp] = m.Offset + 1
			w.mu.Unlock()
		}
	}()
}

// caughtUp reports whether every partition of the given topics was read up
// to its end offset, and if not, what is left.
func (w *watcher) caughtUp(ctx context.Context, topics ...string) (bool, string, error) {
	w.mu.Lock()
	partitions := map[string]int{}
	for tp := range w.next {
		if slices.Contains(topics, tp.topic) {
			partitions[tp.topic] = max(partitions[tp.topic], tp.partition+1)
		}
	}
	w.mu.Unlock()
	var left int64
	for t, n := range partitions {
		ends, err := kafkaio.EndOffsets(ctx, w.brokers, t, n)
		if err != nil {
			return false, "", err
		}
		w.mu.Lock()
		for p, end := range ends {
			left += max(0, end-w.next[topicPartition{t, p}])
		}
		w.mu.Unlock()
	}
	return left == 0, fmt.Sprintf("%d records not read yet", left), nil
}

// wait returns when every reader has stopped (after ctx was cancelled).
func (w *watcher) wait() { w.wg.Wait() }

// waitFor polls cond until it holds, ctx ends or timeout passes; the error
// says what was awaited and the last progress cond reported.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var progress string
	var lastErr error
	for {
		ok, p, err := cond(ctx)
		if err == nil && ok {
			return nil
		}
		progress, lastErr = p, err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%s: not reached within %s: %w", what, timeout, lastErr)
			}
			return fmt.Errorf("%s: not reached within %s (%s)", what, timeout, progress)
		case <-tick.C:
		}
	}
}
