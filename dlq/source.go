package dlq

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

// Read returns every dead letter on the DLQ topic (partition by partition,
// in offset order), marked with what the replay ledger knows. Records that
// are not dead letters (no context headers) are reported and skipped.
func Read(ctx context.Context, brokers []string, topics topic.Names) ([]Entry, error) {
	replayed, err := ReadLedger(ctx, brokers, topics.Replays)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	bad := 0
	err = kafkaio.ReadToEnd(ctx, brokers, topics.DLQ, func(m kafka.Message) error {
		l, err := deadletter.FromHeaders(m.Key, m.Value, kafkaio.FromKafkaHeaders(m.Headers))
		if err != nil {
			bad++
			return nil
		}
		e := Entry{Letter: *l, DLQPartition: m.Partition, DLQOffset: m.Offset}
		e.Replayed = replayed[e.Coords(topics.DLQ)]
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topics.DLQ, err)
	}
	if bad > 0 {
		slog.Warn("skipped records without dead-letter headers", "topic", topics.DLQ, "count", bad)
	}
	return entries, nil
}

// ReadLedger returns the DLQ coordinates already replayed. A missing ledger
// topic means nothing was replayed yet.
func ReadLedger(ctx context.Context, brokers []string, topic string) (map[string]bool, error) {
	counts, err := kafkaio.PartitionCounts(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for p := 0; p < counts[topic]; p++ {
		if err := kafkaio.ReadPartitionToEnd(ctx, brokers, topic, p, func(m kafka.Message) error {
			out[string(m.Key)] = m.Value != nil
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read replay ledger %s: %w", topic, err)
		}
	}
	return out, nil
}
