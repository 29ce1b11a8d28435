package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// missingTopicGrace is how long a topic may be missing from the metadata
// before that is an error: right after `topics create` a broker can answer
// before it serves the new topic.
const missingTopicGrace = 2 * time.Second

// dlqHeadroom is what a dead letter adds to the raw record it carries (the
// dlq.* headers with the error text) plus the record batch framing that
// kafka-go's batch accounting leaves out. The DLQ writer keeps its batches
// this far under the DLQ topic's limit, and cuts dead letters to fit.
const dlqHeadroom = 16 << 10

// topology is what the processor learns about its topics at start.
type topology struct {
	rawPartitions int
	rawMaxBytes   int // the raw topic's max.message.bytes
	dlqMaxBytes   int // the DLQ topic's max.message.bytes
	stateMaxBytes int // the state topic's max.message.bytes: the largest checkpoint
}

// checkTopics waits for the broker (transient errors, up to the connect
// timeout) and then checks, once, what no retry can fix: every topic
// exists, the state topic has a partition for every raw partition, and
// the DLQ topic can hold the dead letters of what the raw topic accepts.
func (p *Processor) checkTopics(ctx context.Context) (topology, error) {
	cfg := p.cfg
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	roles := []topicRole{{"Topics.Raw", cfg.Topics.Raw}, {"Topics.State", cfg.Topics.State},
		{"Topics.Agg", cfg.Topics.Agg}, {"Topics.DLQ", cfg.Topics.DLQ}}
	what := "check the topics on Kafka at " + strings.Join(cfg.Brokers, ",")
	return retry.Do(ctx, cfg.Retry, cfg.Logger, what, kafkaio.Transient, func(ctx context.Context) (topology, error) {
		parts, missing, err := partitionCounts(ctx, client, roles)
		// Right after `topics create` a broker can answer before it serves
		// the new topics: look again for a moment before calling one
		// missing (quietly: this is not a state worth a log line).
		for deadline := time.Now().Add(missingTopicGrace); err == nil && len(missing) > 0 && time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				return topology{}, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			parts, missing, err = partitionCounts(ctx, client, roles)
		}
		if err != nil {
			return topology{}, err
		}
		if len(missing) > 0 {
			return topology{}, retry.Permanent(fmt.Errorf("%s: create the topics with 'streamlab topics create' (same names), or name existing ones",
				strings.Join(missing, "; ")))
		}
		raw, state := parts[cfg.Topics.Raw], parts[cfg.Topics.State]
		if state < raw {
			return topology{}, retry.Permanent(fmt.Errorf("the topic named by Topics.State, %q, has %d partitions but the raw topic %q has %d: partition p's checkpoint lives in state partition p, so it needs at least %d (create it again with 'streamlab topics create')",
				cfg.Topics.State, state, cfg.Topics.Raw, raw, raw))
		}
		limits, err := maxMessageBytes(ctx, cfg.Brokers, cfg.Topics.Raw, cfg.Topics.DLQ, cfg.Topics.State)
		if err != nil {
			return topology{}, err
		}
		t := topology{rawPartitions: raw, rawMaxBytes: limits[cfg.Topics.Raw], dlqMaxBytes: limits[cfg.Topics.DLQ],
			stateMaxBytes: limits[cfg.Topics.State]}
		if t.dlqRecordLimit() < dlqHeadroom {
			return topology{}, retry.Permanent(fmt.Errorf("the topic named by Topics.DLQ, %q, accepts records up to %d bytes (max.message.bytes): too small for a dead letter's context; give it at least %d, better the raw topic's %d plus %d",
				cfg.Topics.DLQ, t.dlqMaxBytes, 2*dlqHeadroom, t.rawMaxBytes, 2*dlqHeadroom))
		}
		return t, nil
	})
}

// partitionCounts returns the partition count of each topic of roles and
// says which of them do not exist.
func partitionCounts(ctx context.Context, client *kafka.Client, roles []topicRole) (map[string]int, []string, error) {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.name
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, nil, err
	}
	parts := map[string]int{}
	for _, t := range md.Topics {
		switch {
		case t.Error == nil:
			parts[t.Name] = len(t.Partitions)
		case !errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			return nil, nil, fmt.Errorf("metadata of topic %s: %w", t.Name, t.Error)
		}
	}
	var missing []string
	for _, r := range roles {
		if parts[r.name] == 0 {
			missing = append(missing, fmt.Sprintf("the topic named by %s, %q, does not exist", r.field, r.name))
		}
	}
	return parts, missing, nil
}

// topicRole is a topic the processor needs and the field that names it.
type topicRole struct{ field, name string }

// maxMessageBytes reads the effective max.message.bytes of topics (the
// topic's own setting or the broker default it inherits).
func maxMessageBytes(ctx context.Context, brokers []string, topics ...string) (map[string]int, error) {
	configs, err := kafkaio.TopicConfigs(ctx, brokers, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range topics {
		v := configs[t]["max.message.bytes"]
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, retry.Permanent(fmt.Errorf("topic %s: max.message.bytes %q is not a positive number", t, v))
		}
		out[t] = n
	}
	return out, nil
}

// dlqRecordLimit is the size a dead letter (one record batch) may have: the
// DLQ topic's limit less the headroom kept for kafka-go's batch accounting.
func (t topology) dlqRecordLimit() int { return t.dlqMaxBytes - dlqHeadroom }

// dlqWarning says what happens to big dead letters when the DLQ topic
// cannot hold every record the raw topic accepts; "" when it can.
func (t topology) dlqWarning(raw, dlq string) string {
	need := t.rawMaxBytes + 2*dlqHeadroom
	if t.dlqMaxBytes >= need {
		return ""
	}
	return fmt.Sprintf("DLQ topic %s accepts records up to %d bytes (max.message.bytes) but raw topic %s accepts %d: a dead letter of a raw record over about %d bytes is written with its value cut to fit, its original size and SHA-256 in dlq.value.* headers, and cannot be replayed; give %s a max.message.bytes of at least %d to keep every dead letter whole",
		dlq, t.dlqMaxBytes, raw, t.rawMaxBytes, t.dlqRecordLimit()-dlqHeadroom, dlq, need)
}
