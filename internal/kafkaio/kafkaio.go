// Package kafkaio holds the thin kafka-go adapters every role shares: topic
// names, writers configured for durability, header conversion and topic setup.
package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
)

// Topics are the topic names (brief §3), configurable per deployment.
type Topics struct {
	Raw, DLQ, Agg, Alerts, State string
	// Replays is the replay ledger: which dead letters were replayed.
	Replays string
}

// DefaultTopics are the brief's names plus the processor's state topic.
func DefaultTopics() Topics {
	return Topics{Raw: "events.raw.v1", DLQ: "events.dlq.v1", Agg: "agg.window.v1", Alerts: "alerts.v1", State: "streamlab.processor.state.v1", Replays: "events.dlq.replays.v1"}
}

// ParseBrokers splits a comma-separated broker list and checks each entry.
func ParseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("broker %q: want host:port: %w", b, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("no Kafka brokers given: set --brokers or STREAMLAB_BROKERS (host:port,...)")
	}
	return out, nil
}

// Record size limits. A broker rejects a record batch larger than the
// topic's max.message.bytes (1 MiB by default), so writers keep batches
// under it. The DLQ must accept every raw message plus its context headers,
// so its topic allows MaxDLQMessageBytes and its writer batches up to
// DLQBatchBytes: any record the raw topic accepted (≤ 1 MiB by default)
// fits in the DLQ.
const (
	DefaultBatchBytes  = 1000 << 10
	DLQBatchBytes      = 3 << 20
	MaxDLQMessageBytes = 4 << 20
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

// Headers converts dead-letter headers to kafka-go headers.
func Headers(hs []deadletter.Header) []kafka.Header {
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// FromKafkaHeaders converts kafka-go headers to dead-letter headers.
func FromKafkaHeaders(hs []kafka.Header) []deadletter.Header {
	out := make([]deadletter.Header, len(hs))
	for i, h := range hs {
		out[i] = deadletter.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// TopicSpec describes one topic to create.
type TopicSpec struct {
	Name       string
	Partitions int
	Configs    map[string]string
}

// Specs returns the topic layout: the raw, DLQ and aggregate topics with the
// given partition count; the aggregate and state topics compacted (only the
// latest revision of a window, the latest checkpoint of a partition
// matter); the state topic with exactly as many partitions as the raw topic
// because partition p's checkpoint lives in state partition p.
func Specs(t Topics, partitions int, retention time.Duration) []TopicSpec {
	ret := fmt.Sprint(retention.Milliseconds())
	return []TopicSpec{
		{Name: t.Raw, Partitions: partitions, Configs: map[string]string{"retention.ms": ret}},
		{Name: t.DLQ, Partitions: partitions, Configs: map[string]string{"retention.ms": ret, "max.message.bytes": fmt.Sprint(MaxDLQMessageBytes)}},
		{Name: t.Agg, Partitions: partitions, Configs: map[string]string{"cleanup.policy": "compact,delete", "retention.ms": ret}},
		{Name: t.Alerts, Partitions: 1, Configs: map[string]string{"retention.ms": ret}},
		{Name: t.Replays, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: t.State, Partitions: partitions, Configs: map[string]string{"cleanup.policy": "compact", "max.message.bytes": fmt.Sprint(64 << 20), "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}},
	}
}

// CreateTopics creates every topic that does not exist yet and checks that
// existing ones have the expected partition count. It is idempotent.
func CreateTopics(ctx context.Context, brokers []string, specs []TopicSpec) ([]string, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: -1}
		for k, v := range s.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	var created []string
	var errs []error
	for _, s := range specs {
		switch err := resp.Errors[s.Name]; {
		case err == nil:
			created = append(created, s.Name)
		case errors.Is(err, kafka.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
		}
	}
	if len(errs) > 0 {
		return created, errors.Join(errs...)
	}
	counts, err := PartitionCounts(ctx, brokers, names(specs)...)
	if err != nil {
		return created, err
	}
	for _, s := range specs {
		if counts[s.Name] != s.Partitions {
			errs = append(errs, fmt.Errorf("topic %s has %d partitions, want %d (delete it or pass --partitions %d)", s.Name, counts[s.Name], s.Partitions, counts[s.Name]))
		}
	}
	return created, errors.Join(errs...)
}

func names(specs []TopicSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// PartitionCounts returns the partition count of each topic (0 if missing).
func PartitionCounts(ctx context.Context, brokers []string, topics ...string) (map[string]int, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	// Metadata can lag right after creation; retry briefly until it settles.
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil {
			out := make(map[string]int, len(topics))
			ok := true
			for _, t := range md.Topics {
				if t.Error != nil {
					ok = false
					last = fmt.Errorf("metadata for %s: %w", t.Name, t.Error)
					continue
				}
				out[t.Name] = len(t.Partitions)
			}
			if ok {
				return out, nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("read topic metadata: %w", last)
}
