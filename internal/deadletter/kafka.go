package deadletter

import (
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Header is a Kafka record header. It is kafka-go's type itself, so a
// record's headers pass between a kafka-go message, the pipeline and a
// dead letter without a conversion anywhere.
type Header = kafka.Header

// Message is the dead letter as a record on the DLQ topic: the original key
// and value, null or empty as they were, and Headers().
func (l *Letter) Message() kafka.Message {
	return kafka.Message{Key: l.Key, Value: l.Value, Headers: l.Headers()}
}

// FromMessage reads a dead letter from a DLQ record. A kafka-go Reader
// returns an empty key or value as nil; kafkaio.RestoreEmpty undoes that
// where null and empty must differ.
func FromMessage(m kafka.Message) (*Letter, error) {
	return FromHeaders(m.Key, m.Value, m.Headers)
}

// ReplayMessage is the raw record a dead letter is replayed as: the original
// key, value and own headers byte for byte, into the source partition
// (Partition is set; write it with a writer that honours it), plus the
// context the processor reads (dlq.replay_count, one more than the letter's)
// and where it came from (replayOf: the letter's DLQ topic/partition/offset).
// A truncated letter cannot be replayed: its original bytes are gone.
func (l *Letter) ReplayMessage(replayOf string) (kafka.Message, error) {
	if l.Truncated() {
		return kafka.Message{}, fmt.Errorf("%s/%d@%d: %w (%s): replaying it would inject different bytes",
			l.Topic, l.Partition, l.Offset, ErrTruncated, l.TruncationNote())
	}
	hs := make([]Header, 0, len(l.RawHeaders)+6)
	hs = append(hs, l.RawHeaders...)
	hs = append(hs,
		Header{Key: HeaderReplayCount, Value: strconv.AppendInt(nil, int64(l.ReplayCount+1), 10)},
		Header{Key: HeaderSourceTopic, Value: []byte(l.Topic)},
		Header{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(l.Partition), 10)},
		Header{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, l.Offset, 10)},
		Header{Key: HeaderReason, Value: []byte(l.Reason)},
		Header{Key: HeaderReplayOf, Value: []byte(replayOf)},
	)
	return kafka.Message{Partition: int(l.Partition), Key: l.Key, Value: l.Value, Headers: hs}, nil
}
