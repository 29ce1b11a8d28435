package kafkaio

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// Batch size limits. A broker rejects a record batch larger than the
// topic's max.message.bytes (1 MiB by default), so writers keep batches
// under it; the DLQ writer batches up to DLQBatchBytes because its topic
// allows topic.MaxDLQMessageBytes.
const (
	DefaultBatchBytes = 1000 << 10
	DLQBatchBytes     = 3 << 20
)

// NewDLQWriter is NewWriter for the dead-letter topic.
func NewDLQWriter(brokers []string, topic string) *kafka.Writer {
	w := NewWriter(brokers, topic)
	w.BatchBytes = DLQBatchBytes
	return w
}

// NewWriter returns a synchronous writer that waits for all in-sync replicas
// and hashes keys to partitions, so every record of one key lands in one
// partition, in order. BatchTimeout is short because callers hand it whole
// batches; kafka-go's 1 s default would add a second to every flush.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              5000,
		BatchBytes:             DefaultBatchBytes,
		BatchTimeout:           2 * time.Millisecond,
		MaxAttempts:            10,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        2 * time.Second,
		AllowAutoTopicCreation: false,
		ErrorLogger:            kafka.LoggerFunc(func(f string, a ...any) { slog.Debug("kafka writer: " + fmt.Sprintf(f, a...)) }),
	}
}
