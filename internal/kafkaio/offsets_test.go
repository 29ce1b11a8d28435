package kafkaio_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
)

// TestEndAndCommittedOffsets on the in-process broker: end offsets count
// what was written per partition; a group that never committed reads as -1
// everywhere (not as an error); a commit reads back as committed.
func TestEndAndCommittedOffsets(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topics.Raw, Balancer: &kafka.RoundRobin{}, BatchSize: 1,
		RequiredAcks: kafka.RequireAll} // acks=0 (the default) would race the reads below
	defer w.Close()
	for range 3 {
		if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	ends, err := kafkaio.EndOffsets(ctx, brokers, topics.Raw, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ends[0]+ends[1] != 3 || len(ends) != 2 {
		t.Fatalf("end offsets %v: want 3 records over 2 partitions", ends)
	}
	got, err := kafkaio.CommittedOffsets(ctx, brokers, "never-committed", topics.Raw, 2)
	if err != nil || got[0] != -1 || got[1] != -1 {
		t.Fatalf("a group that never committed: %v, %v; want -1 on both partitions", got, err)
	}
	res, err := (&kafka.Client{}).OffsetCommit(ctx, &kafka.OffsetCommitRequest{Addr: kafka.TCP(brokers...), GroupID: "g",
		GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topics.Raw: {{Partition: 1, Offset: ends[1]}}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Topics[topics.Raw][0].Error; e != nil {
		t.Fatal(e)
	}
	got, err = kafkaio.CommittedOffsets(ctx, brokers, "g", topics.Raw, 2)
	if err != nil || got[0] != -1 || got[1] != ends[1] {
		t.Fatalf("after committing %d on partition 1: %v, %v", ends[1], got, err)
	}
}
