package dlq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dlq"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
	"github.com/streamlab/streamlab/internal/topic"
)

// seedDLQ writes one late_event dead letter per raw partition.
func seedDLQ(t *testing.T, brokers []string, topics topic.Names) {
	t.Helper()
	w := kafkaio.NewDLQWriter(brokers, topics.DLQ)
	defer w.Close()
	var msgs []kafka.Message
	for p := range int32(3) {
		l := deadletter.Letter{Reason: event.LateEvent, Error: "late", Topic: topics.Raw, Partition: p, Offset: 100 + int64(p),
			FailedAt: time.Now(), EventTimeMs: 1767225600000, HasEventTime: true, Key: []byte("u"), Value: []byte("{}")}
		msgs = append(msgs, l.Message())
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// TestFollow plays the processor's part: once the replayed records are on
// the raw topic it dead-letters one of them and commits past all; the
// follow reports 2 healed, 1 back in the DLQ, each replay in its source
// partition.
func TestFollow(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 3)
	seedDLQ(t, brokers, topics)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fakeProcessor(ctx, brokers, topics, "g") }()
	rep, err := dlq.Replay(ctx, dlq.ReplayConfig{Source: dlq.Source{Brokers: brokers, Topics: topics}, MaxReplays: 3, Group: "g", Wait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f := rep.Followed
	if rep.Written != 3 || f.Healed != 2 || f.Back[event.InvalidJSON] != 1 || f.BackTotal() != 1 || f.Pending != 0 {
		t.Fatalf("written %d, followed %+v", rep.Written, f)
	}
	for c, e := range rep.Replays {
		if c.Partition != e.Partition || c.Topic != topics.Raw {
			t.Errorf("dead letter of %s replayed to %s", e.Source(), c)
		}
	}
}

// fakeProcessor waits for the three replayed records, writes a dead letter
// for the one in partition 1 and commits group past all of them.
func fakeProcessor(ctx context.Context, brokers []string, topics topic.Names, group string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	for {
		var replayed []kafka.Message
		for p := range 3 {
			if err := kafkaio.ReadPartitionToEnd(ctx, brokers, topics.Raw, p, func(m kafka.Message) error {
				replayed = append(replayed, m)
				return nil
			}); err != nil {
				return err
			}
		}
		if len(replayed) < 3 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		commits := map[string][]kafka.OffsetCommit{}
		for _, m := range replayed {
			if m.Partition == 1 {
				l := deadletter.Letter{Reason: event.InvalidJSON, Error: "again", Topic: topics.Raw, Partition: 1, Offset: m.Offset,
					FailedAt: time.Now(), ReplayCount: 1, Key: m.Key, Value: m.Value}
				w := kafkaio.NewDLQWriter(brokers, topics.DLQ)
				err := w.WriteMessages(ctx, l.Message())
				w.Close()
				if err != nil {
					return err
				}
			}
			commits[topics.Raw] = append(commits[topics.Raw], kafka.OffsetCommit{Partition: m.Partition, Offset: m.Offset + 1})
		}
		resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: commits})
		if err != nil {
			return err
		}
		for _, ps := range resp.Topics {
			for _, p := range ps {
				if p.Error != nil {
					return p.Error
				}
			}
		}
		return nil
	}
}

// TestFollowTimesOut: with no processor the follow gives up at its bound
// and says so, with where each partition stands.
func TestFollowTimesOut(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 3)
	seedDLQ(t, brokers, topics)
	rep, err := dlq.Replay(context.Background(), dlq.ReplayConfig{Source: dlq.Source{Brokers: brokers, Topics: topics}, MaxReplays: 3, Group: "nobody", Wait: time.Second})
	if !errors.Is(err, dlq.ErrStillPending) {
		t.Fatalf("error %v", err)
	}
	f := rep.Followed
	if rep.Written != 3 || f.Pending != 3 || f.Healed != 0 || len(f.Behind) != 3 || !strings.Contains(f.Behind[0], "partition 0: nothing committed, replayed up to 0") {
		t.Fatalf("written %d, followed %+v", rep.Written, f)
	}
}
