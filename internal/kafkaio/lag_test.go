package kafkaio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
)

// GroupLag reads a group's position from outside: committed offsets against
// end offsets, and the age of the first unconsumed record. The real-broker
// proof (a SIGKILLed processor's lag growing) is e2e TestS6AlertsAndLag.
func TestGroupLag(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Ten records on partition 0, one a second; partition 1 gets three,
	// partition 2 none.
	var msgs []kafka.Message
	for i := range 10 {
		msgs = append(msgs, kafka.Message{Partition: 0, Value: []byte(fmt.Sprint(i)), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	for i := range 3 {
		msgs = append(msgs, kafka.Message{Partition: 1, Value: []byte(fmt.Sprint(i)), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topics.Raw, Balancer: balancerFunc(func(m kafka.Message) int { return m.Partition }),
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	res, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topics.Raw: {{Partition: 0, Offset: 4}}}})
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

	lag, err := kafkaio.GroupLag(ctx, brokers, "g", topics.Raw, 3)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	want := []struct {
		committed, end, messages int64
		seconds                  float64
	}{
		{4, 10, 6, 56}, // first unconsumed is record 4, written at t0+4s
		{-1, 3, 3, 60}, // nothing committed: all of it, from record 0
		{-1, 0, 0, 0},  // empty: caught up
	}
	for i, w := range want {
		l := lag[i]
		if l.Partition != i || l.Committed != w.committed || l.End != w.end || l.Messages != w.messages || l.Seconds(now) != w.seconds {
			t.Errorf("partition %d: %+v, %v s; want %+v", i, l, l.Seconds(now), w)
		}
	}

	// ListSpans finds the first record at or after a time.
	spans, err := kafkaio.ListSpans(ctx, c, topics.Raw, []int{0, 2}, t0.Add(6500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if s := spans[0]; s.First != 0 || s.End != 10 || s.At != 7 {
		t.Errorf("span of partition 0: %+v, want first 0, end 10, at 7", s)
	}
	if s := spans[1]; s.At != s.End {
		t.Errorf("span of the empty partition 2: %+v", s)
	}
	// A topic the brokers do not know is reported missing, not as an error.
	if _, missing, err := kafkaio.TopicPartitions(ctx, c, topics.Raw, "no.such.topic"); err != nil || len(missing) != 1 || missing[0] != "no.such.topic" {
		t.Errorf("TopicPartitions: missing %v, err %v", missing, err)
	}
}

type balancerFunc func(kafka.Message) int

func (f balancerFunc) Balance(m kafka.Message, _ ...int) int { return f(m) }
