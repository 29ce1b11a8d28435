package kafkaio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// RestoreEmpty makes messages read with a kafka-go Reader or Conn exact.
// Those read an empty key, value or header value as nil, the same as a
// Kafka null (kafka-go v0.4 readNewBytes allocates only for a length > 0),
// so a dead letter of an empty value would become a tombstone. kafka-go's
// protocol-level Client.Fetch keeps the difference: for every message with
// a nil key, value or header value, RestoreEmpty re-reads its record that
// way and sets []byte{} where the broker holds an empty byte string. Other
// messages cost nothing, so the usual traffic (keys and values set, no
// headers) never triggers a fetch. A record gone from the log since it was
// read (retention) keeps its nils.
func RestoreEmpty(ctx context.Context, brokers []string, msgs []kafka.Message) error {
	type tp struct {
		topic     string
		partition int
	}
	suspects := map[tp][]int{}
	for i := range msgs {
		if MayBeEmpty(&msgs[i]) {
			k := tp{msgs[i].Topic, msgs[i].Partition}
			suspects[k] = append(suspects[k], i)
		}
	}
	if len(suspects) == 0 {
		return nil
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	for k, idx := range suspects {
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(msgs[a].Offset, msgs[b].Offset) })
		if err := restorePartition(ctx, client, k.topic, k.partition, msgs, idx); err != nil {
			return err
		}
	}
	return nil
}

// MayBeEmpty reports whether a message read with a kafka-go Reader may
// differ from its record: it has a nil key, value or header value, which
// was a null or an empty byte string (RestoreEmpty tells them apart).
func MayBeEmpty(m *kafka.Message) bool {
	if m.Key == nil || m.Value == nil {
		return true
	}
	for _, h := range m.Headers {
		if h.Value == nil {
			return true
		}
	}
	return false
}

// restorePartition re-reads the records at msgs[idx] (sorted by offset) of
// one partition, fetching forward from the first until the last is seen.
func restorePartition(ctx context.Context, client *kafka.Client, topic string, partition int, msgs []kafka.Message, idx []int) error {
	next := 0 // idx[next] is the first message not restored yet
	offset := msgs[idx[0]].Offset
	for next < len(idx) {
		resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
			MinBytes: 1, MaxBytes: 64 << 10, MaxWait: 500 * time.Millisecond}) // a broker returns at least the batch holding offset
		if err == nil {
			err = resp.Error
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			return nil // deleted by retention since it was read: keep the nils
		}
		if err != nil {
			return fmt.Errorf("re-read %s/%d@%d for empty keys and values: %w", topic, partition, offset, err)
		}
		read := false
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("re-read %s/%d@%d for empty keys and values: %w", topic, partition, offset, err)
			}
			read = true
			offset = max(offset, r.Offset+1)
			for next < len(idx) && msgs[idx[next]].Offset < r.Offset {
				next++ // not in the log any more
			}
			if next < len(idx) && msgs[idx[next]].Offset == r.Offset {
				restore(&msgs[idx[next]], r)
				next++
			}
			if next == len(idx) {
				break
			}
		}
		if next < len(idx) {
			offset = max(offset, msgs[idx[next]].Offset) // skip to the next record wanted
		}
		if !read {
			if offset >= resp.HighWatermark {
				return nil // the rest is gone or not readable: keep their nils
			}
			return fmt.Errorf("re-read %s/%d@%d for empty keys and values: the broker returned no record below its high watermark %d", topic, partition, offset, resp.HighWatermark)
		}
	}
	return nil
}

func restore(m *kafka.Message, r *kafka.Record) {
	if m.Key == nil && r.Key != nil {
		m.Key = []byte{}
	}
	if m.Value == nil && r.Value != nil {
		m.Value = []byte{}
	}
	for i := range m.Headers {
		if m.Headers[i].Value == nil && i < len(r.Headers) && r.Headers[i].Key == m.Headers[i].Key && r.Headers[i].Value != nil {
			m.Headers[i].Value = []byte{}
		}
	}
}
