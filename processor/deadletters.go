package processor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// Headers of a dead letter whose value was cut to fit the DLQ topic.
// They belong to internal/deadletter's codec; until it carries them they
// are spelled here, with the codec's names.
const (
	headerTruncatedFrom = "dlq.value.truncated_from"
	headerValueSHA256   = "dlq.value.sha256"
)

// deadLetterMessage is the DLQ record of l. A record larger than limit (the
// DLQ topic's max.message.bytes less headroom) would be refused by the
// broker, and a record the broker refuses for good would stall its
// partition, so the value is cut to fit and the record says so: the
// original size and SHA-256 in headers. cut reports that.
func deadLetterMessage(l *deadletter.Letter, limit int) (msg kafka.Message, cut bool, err error) {
	hs := kafkaio.Headers(l.Headers())
	msg = kafka.Message{Key: l.Key, Value: l.Value, Headers: hs}
	size := recordSize(&msg)
	if size <= limit {
		return msg, false, nil
	}
	sum := sha256.Sum256(l.Value)
	msg.Headers = append(hs,
		kafka.Header{Key: headerTruncatedFrom, Value: strconv.AppendInt(nil, int64(len(l.Value)), 10)},
		kafka.Header{Key: headerValueSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
	over := recordSize(&msg) - limit
	if over > len(l.Value) {
		return kafka.Message{}, false, fmt.Errorf("dead letter of %s/%d@%d: %d bytes without its value, over the DLQ record limit of %d bytes: give the DLQ topic a max.message.bytes at least the raw topic's",
			l.Topic, l.Partition, l.Offset, recordSize(&msg)-len(l.Value), limit)
	}
	n := len(l.Value) - over
	msg.Value = l.Value[:n:n]
	return msg, true, nil
}

// recordSize bounds from above the bytes of m as a record batch of its
// own (every length counted at its widest varint).
func recordSize(m *kafka.Message) int {
	const batchHeader, record, varLen = 61, 5 + 1 + 10 + 5 + 5, 5
	n := batchHeader + record + varLen + len(m.Key) + varLen + len(m.Value)
	for _, h := range m.Headers {
		n += varLen + len(h.Key) + varLen + len(h.Value)
	}
	return n
}
