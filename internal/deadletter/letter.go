// Package deadletter is the dead-letter record (contract §8) and the one
// codec of its dlq.* headers: the original key, value and headers byte for
// byte plus the context needed to understand and replay it. On Kafka the
// context travels in headers (the Kafka Connect DLQ convention) so the value
// stays untouched; offline it is a JSON line.
//
// Everything here is pure (no I/O); kafka.go gives the kafka-go record forms
// (the DLQ record, the replayed raw record) so that no caller converts
// headers by hand.
package deadletter

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streamlab/streamlab/internal/event"
)

// Letter is one dead letter.
type Letter struct {
	Reason       event.Reason
	Error        string
	Topic        string
	Partition    int32
	Offset       int64
	FailedAt     time.Time
	EventTimeMs  int64
	HasEventTime bool
	ReplayCount  int
	// Key and Value are the raw record's, byte for byte: nil is a Kafka
	// null, a non-nil empty slice an empty byte string. A replay writes
	// them back as they are, so an empty value never becomes a tombstone.
	Key, Value []byte
	// RawHeaders are the raw record's own headers, in order, without any
	// dlq.* header: those are the processor's alone (OwnHeaders).
	RawHeaders []Header
	// OriginalValueBytes and OriginalValueSHA256 (hex) are set when Value
	// was cut to fit the DLQ topic (Truncate); the original bytes are gone.
	OriginalValueBytes  int
	OriginalValueSHA256 string
}

// Header names on events.dlq.v1 and on replayed raw messages.
const (
	HeaderReason          = "dlq.reason"
	HeaderError           = "dlq.error"
	HeaderSourceTopic     = "dlq.source.topic"
	HeaderSourcePartition = "dlq.source.partition"
	HeaderSourceOffset    = "dlq.source.offset"
	HeaderFailedAt        = "dlq.failed_at"
	HeaderEventTime       = "dlq.event_time"
	HeaderReplayCount     = "dlq.replay_count"
	// HeaderTruncatedFrom is the original value's size in bytes on a dead
	// letter whose value was cut to fit the DLQ topic.
	HeaderTruncatedFrom = "dlq.value.truncated_from"
	// HeaderValueSHA256 is the hex SHA-256 of the original value of a
	// truncated dead letter, so the original can be found and verified.
	HeaderValueSHA256 = "dlq.value.sha256"
	// HeaderReplayOf names, on a replayed raw message, the dead letter it
	// came from (DLQ topic/partition/offset).
	HeaderReplayOf = "dlq.replay.of"
)

// headerPrefix marks the headers the processor owns.
const headerPrefix = "dlq."

// IsContext reports whether a header name belongs to the dead-letter
// context (dlq.*), which only the processor and the replay write.
func IsContext(name string) bool { return strings.HasPrefix(name, headerPrefix) }

// OwnHeaders returns the headers of a raw record that a dead letter keeps:
// all of them but dlq.* ones, which a producer could otherwise use to spoof
// a dead letter's context. It returns hs itself when nothing is dropped.
func OwnHeaders(hs []Header) []Header {
	drop := 0
	for _, h := range hs {
		if IsContext(h.Key) {
			drop++
		}
	}
	if drop == 0 {
		return hs
	}
	out := make([]Header, 0, len(hs)-drop)
	for _, h := range hs {
		if !IsContext(h.Key) {
			out = append(out, h)
		}
	}
	return out
}

// ReplayCount reads dlq.replay_count from a raw record's headers: how many
// times this record was replayed from the DLQ (0 for an original record or
// an unreadable count).
func ReplayCount(hs []Header) int {
	for _, h := range hs {
		if h.Key == HeaderReplayCount {
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n >= 0 {
				return n
			}
		}
	}
	return 0
}

// Headers returns every header of the dead letter's Kafka record: the raw
// record's own first (as Kafka Connect's DLQ does), then the context, every
// value UTF-8 text so that kafka-console-consumer, kcat and ClickHouse's
// _headers read it as is.
func (l *Letter) Headers() []Header {
	h := make([]Header, 0, len(l.RawHeaders)+10)
	h = append(h, l.RawHeaders...)
	h = append(h,
		Header{Key: HeaderReason, Value: []byte(l.Reason)},
		Header{Key: HeaderError, Value: []byte(l.Error)},
		Header{Key: HeaderSourceTopic, Value: []byte(l.Topic)},
		Header{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(l.Partition), 10)},
		Header{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, l.Offset, 10)},
		Header{Key: HeaderFailedAt, Value: event.AppendMillis(nil, l.FailedAt.UnixMilli())},
		Header{Key: HeaderReplayCount, Value: strconv.AppendInt(nil, int64(l.ReplayCount), 10)},
	)
	if l.HasEventTime {
		h = append(h, Header{Key: HeaderEventTime, Value: event.AppendMillis(nil, l.EventTimeMs)})
	}
	if l.Truncated() {
		h = append(h,
			Header{Key: HeaderTruncatedFrom, Value: strconv.AppendInt(nil, int64(l.OriginalValueBytes), 10)},
			Header{Key: HeaderValueSHA256, Value: []byte(l.OriginalValueSHA256)})
	}
	return h
}

// FromHeaders rebuilds a letter from a DLQ record's key, value and headers.
// Headers outside dlq.* are the raw record's own and are kept in order.
func FromHeaders(key, value []byte, headers []Header) (*Letter, error) {
	l := &Letter{Key: key, Value: value}
	seen := map[string]bool{}
	for _, h := range headers {
		if !IsContext(h.Key) {
			l.RawHeaders = append(l.RawHeaders, h)
			continue
		}
		v := string(h.Value)
		seen[h.Key] = true
		var err error
		switch h.Key {
		case HeaderReason:
			l.Reason = event.Reason(v)
		case HeaderError:
			l.Error = v
		case HeaderSourceTopic:
			l.Topic = v
		case HeaderSourcePartition:
			var p int64
			p, err = strconv.ParseInt(v, 10, 32)
			l.Partition = int32(p)
		case HeaderSourceOffset:
			l.Offset, err = strconv.ParseInt(v, 10, 64)
		case HeaderFailedAt:
			var ms int64
			ms, err = parseTime(v)
			l.FailedAt = time.UnixMilli(ms).UTC()
		case HeaderEventTime:
			l.EventTimeMs, err = parseTime(v)
			l.HasEventTime = err == nil
		case HeaderReplayCount:
			l.ReplayCount, err = strconv.Atoi(v)
		case HeaderTruncatedFrom:
			l.OriginalValueBytes, err = strconv.Atoi(v)
		case HeaderValueSHA256:
			l.OriginalValueSHA256 = v
		}
		if err != nil {
			return nil, fmt.Errorf("dead letter header %s=%q: %w", h.Key, v, err)
		}
	}
	for _, k := range []string{HeaderReason, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset} {
		if !seen[k] {
			return nil, fmt.Errorf("dead letter lacks header %s", k)
		}
	}
	if seen[HeaderTruncatedFrom] != seen[HeaderValueSHA256] {
		return nil, fmt.Errorf("dead letter has only one of %s and %s", HeaderTruncatedFrom, HeaderValueSHA256)
	}
	return l, nil
}

func parseTime(s string) (int64, error) {
	ms, ok := event.ParseTime([]byte(s))
	if !ok {
		return 0, fmt.Errorf("not an RFC 3339 time")
	}
	return ms, nil
}

// Truncated reports whether the value was cut to fit the DLQ topic.
func (l *Letter) Truncated() bool { return l.OriginalValueSHA256 != "" }

// ErrTruncated is wrapped by the errors about a truncated letter's value.
var ErrTruncated = errors.New("the dead letter's value was truncated")

// TruncationNote says, for people, what was cut; "" when nothing was.
func (l *Letter) TruncationNote() string {
	if !l.Truncated() {
		return ""
	}
	return fmt.Sprintf("value cut from %d to %d bytes to fit the DLQ topic (original sha256 %s)",
		l.OriginalValueBytes, len(l.Value), l.OriginalValueSHA256)
}

// Size bounds from above the bytes this letter takes on the DLQ topic as a
// record batch of its own: what a broker compares with the topic's
// max.message.bytes, and at least what kafka-go's writer compares with its
// BatchBytes. Every length is counted at its widest varint.
func (l *Letter) Size() int {
	const (
		batchHeader = 61                 // v2 record batch header
		record      = 5 + 1 + 10 + 5 + 5 // length, attributes, timestamp and offset deltas, header count
		varLen      = 5
	)
	n := batchHeader + record + varLen + len(l.Key) + varLen + len(l.Value)
	for _, h := range l.Headers() {
		n += varLen + len(h.Key) + varLen + len(h.Value)
	}
	return n
}

// Truncate cuts the value so that Size() <= limit, and records the original
// size and SHA-256 in the letter (its dlq.value.* headers). It reports
// whether it cut anything. A letter that does not fit even with an empty
// value (a huge key or headers) is an error: the DLQ topic's limit is then
// below what its raw topic accepts, a configuration to fix.
func (l *Letter) Truncate(limit int) (bool, error) {
	if l.Size() <= limit {
		return false, nil
	}
	if !l.Truncated() {
		sum := sha256.Sum256(l.Value)
		l.OriginalValueBytes, l.OriginalValueSHA256 = len(l.Value), hex.EncodeToString(sum[:])
	}
	over := l.Size() - limit
	if over > len(l.Value) {
		return false, fmt.Errorf("dead letter of %s/%d@%d: %d bytes without its value, over the DLQ record limit of %d bytes: give the DLQ topic a max.message.bytes at least the raw topic's",
			l.Topic, l.Partition, l.Offset, l.Size()-len(l.Value), limit)
	}
	// A full slice expression: the cut value must not share spare capacity
	// with the original buffer someone else may append to.
	n := len(l.Value) - over
	l.Value = l.Value[:n:n]
	return true, nil
}

// offlineLine is the --dlq-out format of contract §9.
type offlineLine struct {
	Reason          string  `json:"reason"`
	Error           string  `json:"error"`
	SourceTopic     string  `json:"source_topic,omitempty"`
	SourcePartition int32   `json:"source_partition"`
	SourceOffset    int64   `json:"source_offset"`
	EventTime       *string `json:"event_time,omitempty"`
	FailedAt        string  `json:"failed_at"`
	ReplayCount     int     `json:"replay_count"`
	KeyB64          *string `json:"key_b64,omitempty"`
	ValueB64        string  `json:"value_b64"`
}

// MarshalJSONLine encodes the letter as one JSON object (no newline).
func (l *Letter) MarshalJSONLine() ([]byte, error) {
	o := offlineLine{
		Reason: string(l.Reason), Error: l.Error, SourceTopic: l.Topic,
		SourcePartition: l.Partition, SourceOffset: l.Offset,
		FailedAt:    event.FormatMillis(l.FailedAt.UnixMilli()),
		ReplayCount: l.ReplayCount,
		ValueB64:    base64.StdEncoding.EncodeToString(l.Value),
	}
	if l.HasEventTime {
		s := event.FormatMillis(l.EventTimeMs)
		o.EventTime = &s
	}
	if l.Key != nil {
		s := base64.StdEncoding.EncodeToString(l.Key)
		o.KeyB64 = &s
	}
	b, err := json.Marshal(&o)
	if err != nil {
		return nil, fmt.Errorf("encode dead letter at offset %d: %w", l.Offset, err)
	}
	return b, nil
}
