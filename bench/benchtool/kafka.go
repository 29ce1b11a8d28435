package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

func client(brokers string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(strings.Split(brokers, ",")...), Timeout: 30 * time.Second}
}

// partitions lists a topic's partition ids.
func partitions(ctx context.Context, brokers, topic string) ([]int, error) {
	md, err := client(brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		var ps []int
		for _, p := range t.Partitions {
			ps = append(ps, p.ID)
		}
		sort.Ints(ps)
		return ps, nil
	}
	return nil, fmt.Errorf("topic %s not found", topic)
}

// endOffsets returns the log end offset of every partition.
func endOffsets(ctx context.Context, brokers, topic string, parts []int) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	resp, err := client(brokers).ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	if len(out) != len(parts) {
		return nil, fmt.Errorf("list offsets of %s: %d partitions answered, want %d", topic, len(out), len(parts))
	}
	return out, nil
}

// committed returns a group's committed offset per partition (-1 when none).
func committed(ctx context.Context, brokers, group, topic string, parts []int) (map[int]int64, error) {
	resp, err := client(brokers).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, resp.Error)
	}
	out := make(map[int]int64, len(parts))
	for _, p := range parts {
		out[p] = -1
	}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offset of group %s on %s/%d: %w", group, topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.CommittedOffset
	}
	return out, nil
}

// aborts counts the abort markers readAll saw per topic. kafka-go neither hides
// transaction markers nor filters aborted transactions (its ReadCommitted
// isolation level is not implemented on the client side: segmentio/kafka-go
// issues #1332 and #216), so readAll drops the markers itself and counts the
// aborts: records of an aborted transaction (none in a clean Kafka Streams
// EOS run) would be read as if committed, and equiv says so.
var aborts = map[string]int{}

// isControl recognises a transaction marker: a control record's key is a
// 2-byte version (0) and a 2-byte type (0 abort, 1 commit), its value a 2-byte
// version and a 4-byte coordinator epoch, and it has no headers. Neither an
// aggregate (key "window/partition") nor a dead letter (dlq.* headers) looks
// like that.
func isControl(m *kafka.Message) bool {
	k := m.Key
	return len(k) == 4 && k[0] == 0 && k[1] == 0 && k[2] == 0 && k[3] <= 1 &&
		len(m.Value) == 6 && m.Value[0] == 0 && m.Value[1] == 0 && len(m.Headers) == 0
}

// readAll calls fn for every record of every partition of topic, from the
// first offset up to the end offset the partition had when readAll started.
func readAll(ctx context.Context, brokers, topic string, fn func(m *kafka.Message) error) error {
	parts, err := partitions(ctx, brokers, topic)
	if err != nil {
		return err
	}
	end, err := endOffsets(ctx, brokers, topic, parts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if end[p] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: strings.Split(brokers, ","), Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 200 * time.Millisecond, QueueCapacity: 8192,
		})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			r.Close()
			return err
		}
		last := int64(-1)
		for {
			// A transactional producer (Kafka Streams with exactly_once_v2) ends the
			// partition with a commit marker, which no reader ever returns: once the
			// record before it is read, a short wait decides that nothing follows.
			wait := 30 * time.Second
			if last >= end[p]-2 {
				wait = 2 * time.Second
			}
			rctx, cancel := context.WithTimeout(ctx, wait)
			m, err := r.FetchMessage(rctx)
			cancel()
			if err != nil {
				r.Close()
				if errors.Is(err, context.DeadlineExceeded) && last >= end[p]-2 {
					break
				}
				return fmt.Errorf("read %s/%d (at offset %d of %d): %w", topic, p, last, end[p], err)
			}
			last = m.Offset
			if isControl(&m) {
				if m.Key[3] == 0 {
					aborts[topic]++
				}
			} else if err := fn(&m); err != nil {
				r.Close()
				return err
			}
			if m.Offset >= end[p]-1 {
				r.Close()
				break
			}
		}
	}
	return nil
}

func header(m *kafka.Message, key string) string {
	v := ""
	for _, h := range m.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}
