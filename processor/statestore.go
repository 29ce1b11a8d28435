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

// Store keeps the checkpoint of each source partition of one consumer group
// (goka's storage/ in miniature: the worker only loads and saves, and a test
// can hand it a store of its own).
type Store interface {
	// Load returns the newest checkpoint of a partition, or nil if there is
	// none. An error it cannot recover from (state of another group, a
	// record it cannot read) is not worth retrying.
	Load(ctx context.Context, partition int32) (*checkpoint.Checkpoint, error)
	// Save makes cp durable and returns the bytes it wrote; it returns
	// only once every in-sync replica has them.
	Save(ctx context.Context, cp *checkpoint.Checkpoint) (int, error)
}

// ErrForeignState means the state topic holds another group's (or another
// raw topic's) checkpoints: continuing would mix two groups' state.
var ErrForeignState = errors.New("the state topic holds another group's checkpoints")

// kafkaStore keeps each source partition's checkpoint on a compacted topic:
// the checkpoint of raw partition p is always written to state partition p,
// so the newest checkpoint of p is simply the last record of that partition
// and recovery reads exactly one record.
type kafkaStore struct {
	brokers  []string
	topic    string
	group    string
	rawTopic string
	w        *kafka.Writer
}

func newKafkaStore(brokers []string, stateTopic, group, rawTopic string) *kafkaStore {
	w := kafkaio.NewWriter(brokers, stateTopic)
	w.Balancer = kafka.BalancerFunc(statePartition)
	w.BatchSize = 1
	w.BatchBytes = 64 << 20 // the state topic allows 64 MiB records
	return &kafkaStore{brokers: brokers, topic: stateTopic, group: group, rawTopic: rawTopic, w: w}
}

// statePartition routes a checkpoint to the partition named at the end of
// its key ("group|topic|partition").
func statePartition(msg kafka.Message, partitions ...int) int {
	k := string(msg.Key)
	p, err := strconv.Atoi(k[strings.LastIndexByte(k, '|')+1:])
	if err != nil || p < 0 || p >= len(partitions) {
		// Unreachable for keys built by checkpoint.Key on a state topic
		// checked at start; fall back to a stable choice.
		return 0
	}
	return partitions[p]
}

func (s *kafkaStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) (int, error) {
	b, err := checkpoint.Encode(cp)
	if err != nil {
		return 0, err
	}
	key := checkpoint.Key(s.group, s.rawTopic, cp.Partition)
	if err := s.w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: b}); err != nil {
		return 0, fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	return len(b), nil
}

func (s *kafkaStore) Load(ctx context.Context, partition int32) (*checkpoint.Checkpoint, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", s.brokers[0], s.topic, int(partition))
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: connect to %s/%d: %w", s.topic, partition, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
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
	want := checkpoint.Key(s.group, s.rawTopic, partition)
	if string(msg.Key) != want {
		return nil, fmt.Errorf("state topic %s partition %d: %w (its last record is %q, this processor's would be %q): give each processor group its own state topic",
			s.topic, partition, ErrForeignState, msg.Key, want)
	}
	cp, err := checkpoint.Decode(msg.Value)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", want, err)
	}
	return cp, nil
}

// Close flushes and closes the writer.
func (s *kafkaStore) Close() error {
	if err := s.w.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
