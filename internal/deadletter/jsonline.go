package deadletter

import (
	"encoding/base64"
	"strconv"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/jsonscan"
)

// AppendJSONLine appends the letter's --dlq-out line (no newline) to dst:
// byte for byte what MarshalJSONLine writes, without reflection and without
// allocating, which matters offline where a dead letter may carry a value
// of megabytes in base64 (TestAppendJSONLineMatchesMarshal).
func (l *Letter) AppendJSONLine(dst []byte) []byte {
	dst = append(dst, `{"reason":`...)
	dst = jsonscan.AppendString(dst, string(l.Reason))
	dst = append(dst, `,"error":`...)
	dst = jsonscan.AppendString(dst, l.Error)
	if l.Topic != "" {
		dst = append(dst, `,"source_topic":`...)
		dst = jsonscan.AppendString(dst, l.Topic)
	}
	dst = append(dst, `,"source_partition":`...)
	dst = strconv.AppendInt(dst, int64(l.Partition), 10)
	dst = append(dst, `,"source_offset":`...)
	dst = strconv.AppendInt(dst, l.Offset, 10)
	if l.HasEventTime {
		dst = append(dst, `,"event_time":"`...)
		dst = append(event.AppendMillis(dst, l.EventTimeMs), '"')
	}
	dst = append(dst, `,"failed_at":"`...)
	dst = append(event.AppendMillis(dst, l.FailedAt.UnixMilli()), '"')
	dst = append(dst, `,"replay_count":`...)
	dst = strconv.AppendInt(dst, int64(l.ReplayCount), 10)
	// Base64 needs no JSON escaping.
	if l.Key != nil {
		dst = append(dst, `,"key_b64":"`...)
		dst = append(base64.StdEncoding.AppendEncode(dst, l.Key), '"')
	}
	dst = append(dst, `,"value_b64":"`...)
	dst = append(base64.StdEncoding.AppendEncode(dst, l.Value), '"')
	return append(dst, '}')
}
