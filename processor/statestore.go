package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// StateStore keeps each source partition's checkpoint on a compacted topic:
// the checkpoint of raw partition p is always written to state partition p,
// so the newest checkpoint of p is simply the last record of that partition
// and recovery reads exactly one record.
type StateStore struct {
	brokers []string
	topic   string
	w       *kafka.Writer
}

// NewStateStore returns a store on the given topic.
func NewStateStore(brokers []string, topic string) *StateStore {
	w := kafkaio.NewWriter(brokers, topic)
	w.Balancer = kafka.BalancerFunc(statePartition)
	w.BatchSize = 1
	w.BatchBytes = 64 << 20 // the state topic allows 64 MiB records
	return &StateStore{brokers: brokers, topic: topic, w: w}
}

// statePartition routes a checkpoint to the partition named at the end of
// its key ("group|topic|partition").
func statePartition(msg kafka.Message, partitions ...int) int {
	k := string(msg.Key)
	p, err := strconv.Atoi(k[strings.LastIndexByte(k, '|')+1:])
	if err != nil || p < 0 || p >= len(partitions) {
		// Unreachable for keys built by checkpoint.Key on a state topic
		// checked by Check; fall back to a stable choice.
		return 0
	}
	return partitions[p]
}

// Check verifies the state topic can hold the raw topic's checkpoints.
func (s *StateStore) Check(ctx context.Context, rawTopic string) error {
	counts, err := kafkaio.PartitionCounts(ctx, s.brokers, rawTopic, s.topic)
	if err != nil {
		return err
	}
	if counts[rawTopic] == 0 {
		return fmt.Errorf("input topic %s does not exist: run 'streamlab topics create'", rawTopic)
	}
	if counts[s.topic] < counts[rawTopic] {
		return fmt.Errorf("state topic %s has %d partitions but %s has %d: it needs at least as many (run 'streamlab topics create')",
			s.topic, counts[s.topic], rawTopic, counts[rawTopic])
	}
	return nil
}

// Save writes a checkpoint and returns once all in-sync replicas have it.
func (s *StateStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	b, err := checkpoint.Encode(cp)
	if err != nil {
		return err
	}
	key := checkpoint.Key(cp.Group, cp.Topic, cp.Partition)
	if err := s.w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: b}); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	return nil
}

// Load returns the newest checkpoint of a partition, or nil if none exists.
func (s *StateStore) Load(ctx context.Context, group, topic string, partition int32) (*checkpoint.Checkpoint, error) {
	var conn *kafka.Conn
	var err error
	for attempt := 0; ; attempt++ {
		conn, err = kafka.DialLeader(ctx, "tcp", s.brokers[attempt%len(s.brokers)], s.topic, int(partition))
		if err == nil || attempt >= 10 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: connect to %s/%d: %w", s.topic, partition, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	last, err := conn.ReadLastOffset()
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %s/%d end offset: %w", s.topic, partition, err)
	}
	if last == 0 {
		return nil, nil
	}
	if _, err := conn.Seek(last-1, kafka.SeekAbsolute); err != nil {
		return nil, fmt.Errorf("load checkpoint: seek %s/%d: %w", s.topic, partition, err)
	}
	msg, err := conn.ReadMessage(128 << 20)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: read %s/%d@%d: %w", s.topic, partition, last-1, err)
	}
	want := checkpoint.Key(group, topic, partition)
	if string(msg.Key) != want {
		return nil, fmt.Errorf("load checkpoint: state topic %s partition %d ends with a checkpoint of %q, not %q: give each processor group its own --state-topic",
			s.topic, partition, msg.Key, want)
	}
	cp, err := checkpoint.Decode(msg.Value)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", want, err)
	}
	return cp, nil
}

// Close flushes and closes the writer.
func (s *StateStore) Close() error {
	if err := s.w.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
