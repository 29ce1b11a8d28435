//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// topicSet names every topic of one pipeline. Each test uses its own set so
// that tests never see each other's records or checkpoints.
type topicSet struct {
	Raw, DLQ, Agg, Alerts, State, Replays string
}

// uniqueName returns a name no earlier run on the same broker used.
func uniqueName(t *testing.T, what string) string {
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return fmt.Sprintf("e2e.%s.%s.%x%04x", name, what, time.Now().UnixNano(), rand.IntN(1<<16))
}

func newTopicSet(t *testing.T, run string) topicSet {
	base := uniqueName(t, run)
	return topicSet{Raw: base + ".raw", DLQ: base + ".dlq", Agg: base + ".agg", Alerts: base + ".alerts",
		State: base + ".state", Replays: base + ".replays"}
}

// withRaw returns a set that reads ts's raw topic but writes its own
// outputs and checkpoints: a second, independent processing of one log.
func (ts topicSet) withRaw(raw string) topicSet {
	ts.Raw = raw
	return ts
}

func (ts topicSet) flags() []string {
	return []string{"--raw-topic", ts.Raw, "--dlq-topic", ts.DLQ, "--agg-topic", ts.Agg,
		"--alerts-topic", ts.Alerts, "--state-topic", ts.State, "--replays-topic", ts.Replays}
}

// createTopics runs `streamlab topics create`. Retention is ten years: the
// generated logs carry fixed 2026-01-01 record timestamps, and the default
// seven days would let the broker delete them under the test's feet.
func createTopics(t *testing.T, b string, ts topicSet, partitions int) {
	t.Helper()
	args := append([]string{"topics", "create", "--brokers", b, "--partitions", fmt.Sprint(partitions), "--retention", "87600h"}, ts.flags()...)
	runRole(t, "topics create", 2*time.Minute, args...)
	// The controller has the topics once create returns, but the broker
	// may not serve them for a moment: a first write would fail with
	// UNKNOWN_TOPIC_OR_PARTITION. Wait until every partition answers.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, topic := range []string{ts.Raw, ts.DLQ, ts.Agg, ts.State} {
		for {
			_, err := endOffsets(ctx, b, topic, partitions)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("topic %s not ready a minute after creation: %v", topic, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func client(b string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(strings.Split(b, ",")...), Timeout: 30 * time.Second}
}

// endOffsets returns the log end offset of every partition of topic. It
// retries transient errors (a partition without a leader or a broker still
// loading right after a restart, a reset connection on a loaded machine)
// until ctx ends: a test's own reads must not be what flakes.
func endOffsets(ctx context.Context, b, topic string, partitions int) (map[int]int64, error) {
	return retry.Do(ctx, retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second}, nil, "end offsets of "+topic, kafkaio.TransientOrLoading,
		func(ctx context.Context) (map[int]int64, error) {
			return kafkaio.EndOffsets(ctx, strings.Split(b, ","), topic, partitions)
		})
}

// committedOffsets returns the group's committed offset per partition (-1
// when nothing is committed yet), retrying transient errors like endOffsets.
func committedOffsets(ctx context.Context, b, group, topic string, partitions int) (map[int]int64, error) {
	return retry.Do(ctx, retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second}, nil, "committed offsets of "+group, kafkaio.TransientOrLoading,
		func(ctx context.Context) (map[int]int64, error) {
			return kafkaio.CommittedOffsets(ctx, strings.Split(b, ","), group, topic, partitions)
		})
}

// waitConsumed waits until group has committed the end offset of every
// partition of topic. The processor commits only after the checkpoint that
// covers those offsets and after their outputs were acknowledged, so from
// then on its state reflects the whole log. alive is polled to fail fast
// when a processor died.
func waitConsumed(t *testing.T, ctx context.Context, b, group, topic string, partitions int, d time.Duration, alive func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		end, err := endOffsets(ctx, b, topic, partitions)
		if err != nil {
			t.Fatal(err)
		}
		got, err := committedOffsets(ctx, b, group, topic, partitions)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for p := 0; p < partitions; p++ {
			if got[p] != end[p] {
				done = false
			}
		}
		if done {
			return
		}
		last = fmt.Sprintf("committed %v, end offsets %v", got, end)
		if alive != nil {
			if err := alive(); err != nil {
				t.Fatalf("group %s did not consume %s (%s): %v", group, topic, last, err)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("group %s did not consume %s within %s: %s (a stalled partition?)", group, topic, d, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readTopic reads every partition of topic from the first offset up to the
// end offset it has when called.
func readTopic(t *testing.T, ctx context.Context, b, topic string, partitions int) map[int][]kafka.Message {
	t.Helper()
	end, err := endOffsets(ctx, b, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int][]kafka.Message, partitions)
	for p := 0; p < partitions; p++ {
		msgs, err := readPartition(ctx, b, topic, p, end[p])
		if err != nil {
			t.Fatal(err)
		}
		out[p] = msgs
	}
	return out
}

func readPartition(ctx context.Context, b, topic string, partition int, end int64) ([]kafka.Message, error) {
	if end == 0 {
		return nil, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   strings.Split(b, ","),
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var msgs []kafka.Message
	for {
		m, err := r.ReadMessage(rctx)
		if err != nil {
			return msgs, fmt.Errorf("read %s/%d after %d of %d records: %w", topic, partition, len(msgs), end, err)
		}
		msgs = append(msgs, m)
		if m.Offset >= end-1 {
			return msgs, nil
		}
	}
}

// total counts the records of a topic read by readTopic.
func total(parts map[int][]kafka.Message) int {
	n := 0
	for _, ms := range parts {
		n += len(ms)
	}
	return n
}
