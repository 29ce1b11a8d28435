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
// and hashes keys to partitions with KeyBalancer, so every record of one key
// lands in one partition, in order, the same partition any Java or
// librdkafka producer picks. BatchTimeout is short because callers hand it
// whole batches; kafka-go's 1 s default would add a second to every flush.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		Balancer:               KeyBalancer(),
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

// KeyBalancer is the partitioner of every writer keyed by user: the Java
// client's (murmur2 of the key, sign bit cleared, modulo the partition
// count), which Kafka Connect, Kafka Streams, Java producers and librdkafka's
// "murmur2_random" use too, so a user stays in one partition whoever writes
// the raw topic. A nil key goes to a random partition (Java spreads them
// too); an empty key is hashed like any other. kafka-go's default Hash
// (FNV-1a) and librdkafka's default (CRC32) place keys elsewhere.
func KeyBalancer() kafka.Balancer { return &kafka.Murmur2Balancer{} }

// MessagePartition is a Balancer that writes every message to the partition
// it names in Message.Partition: how a replay puts a dead letter back into
// its source partition whatever its key. The caller checks that the
// partition exists (a balancer cannot refuse a message); a write to one that
// does not fails with Unknown Topic Or Partition.
var MessagePartition kafka.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
