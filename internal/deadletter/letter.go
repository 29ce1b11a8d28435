// Package deadletter is the dead-letter record (contract §8): the original key
// and value byte for byte plus the context needed to understand and replay
// it. On Kafka the context travels in headers (the Kafka Connect DLQ
// convention) so the value stays untouched; offline it is a JSON line.
package deadletter

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
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
	Key          []byte
	Value        []byte
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
)

// Header is a Kafka record header, independent of any client library.
type Header struct {
	Key   string
	Value []byte
}

// Headers returns the context as Kafka headers, every value UTF-8 text so
// that kafka-console-consumer and ClickHouse's _headers read it as is.
func (l *Letter) Headers() []Header {
	h := []Header{
		{HeaderReason, []byte(l.Reason)},
		{HeaderError, []byte(l.Error)},
		{HeaderSourceTopic, []byte(l.Topic)},
		{HeaderSourcePartition, strconv.AppendInt(nil, int64(l.Partition), 10)},
		{HeaderSourceOffset, strconv.AppendInt(nil, l.Offset, 10)},
		{HeaderFailedAt, event.AppendMillis(nil, l.FailedAt.UnixMilli())},
		{HeaderReplayCount, strconv.AppendInt(nil, int64(l.ReplayCount), 10)},
	}
	if l.HasEventTime {
		h = append(h, Header{HeaderEventTime, event.AppendMillis(nil, l.EventTimeMs)})
	}
	return h
}

// FromHeaders rebuilds a letter from a DLQ message.
func FromHeaders(key, value []byte, headers []Header) (*Letter, error) {
	l := &Letter{Key: key, Value: value}
	seen := map[string]bool{}
	for _, h := range headers {
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
	return l, nil
}

func parseTime(s string) (int64, error) {
	ms, ok := event.ParseTime([]byte(s))
	if !ok {
		return 0, fmt.Errorf("not an RFC 3339 time")
	}
	return ms, nil
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
