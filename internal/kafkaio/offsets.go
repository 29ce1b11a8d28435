package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// EndOffsets returns the end (next) offset of partitions 0..partitions-1
// of topic, in one request: the offset the next record written will get.
func EndOffsets(ctx context.Context, brokers []string, topic string, partitions int) (map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Addr: kafka.TCP(brokers...), Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	res, err := (&kafka.Client{}).ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, partitions)
	var errs []error
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, p.Error))
			continue
		}
		out[p.Partition] = p.LastOffset
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) != partitions {
		return nil, fmt.Errorf("end offsets of %s: %d of %d partitions answered", topic, len(out), partitions)
	}
	return out, nil
}

// CommittedOffsets returns the offset group committed on partitions
// 0..partitions-1 of topic, -1 where it committed nothing. A group that
// never committed is unknown to some brokers (kfake answers
// GROUP_ID_NOT_FOUND) and has -1 everywhere on others; both read as -1.
func CommittedOffsets(ctx context.Context, brokers []string, group, topic string, partitions int) (map[int]int64, error) {
	ps := make([]int, partitions)
	out := make(map[int]int64, partitions)
	for p := range ps {
		ps[p], out[p] = p, -1
	}
	res, err := (&kafka.Client{}).OffsetFetch(ctx, &kafka.OffsetFetchRequest{Addr: kafka.TCP(brokers...), GroupID: group,
		Topics: map[string][]int{topic: ps}})
	if err == nil && !errors.Is(res.Error, kafka.GroupIdNotFound) {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s on %s: %w", group, topic, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// TopicPartitions returns the partition ids of each topic that exists, and
// the topics the brokers do not know. A partition without a leader is an
// error (transient: Transient says so), not a missing topic.
func TopicPartitions(ctx context.Context, c *kafka.Client, topics ...string) (map[string][]int, []string, error) {
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, nil, fmt.Errorf("topic metadata: %w", err)
	}
	out := map[string][]int{}
	for _, t := range res.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return nil, nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error != nil {
				return nil, nil, fmt.Errorf("topic %s partition %d: %w", t.Name, p.ID, p.Error)
			}
			out[t.Name] = append(out[t.Name], p.ID)
		}
		sort.Ints(out[t.Name])
	}
	var missing []string
	for _, t := range topics {
		if len(out[t]) == 0 {
			missing = append(missing, t)
		}
	}
	return out, missing, nil
}

// Span is what a partition holds: offsets First (the log start) to End
// (the next offset to be written), and At, the first offset whose record
// timestamp is at or after the time asked for (End when there is none).
type Span struct {
	Partition      int
	First, End, At int64
}

// ListSpans returns the span of each partition of topic, At taken for the
// time at (a zero at means the log start). One request per kind of offset,
// routed by the client to each partition's leader.
func ListSpans(ctx context.Context, c *kafka.Client, topic string, partitions []int, at time.Time) ([]Span, error) {
	list := func(req func(int) kafka.OffsetRequest) (map[int]kafka.PartitionOffsets, error) {
		rs := make([]kafka.OffsetRequest, len(partitions))
		for i, p := range partitions {
			rs[i] = req(p)
		}
		res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: rs}})
		if err != nil {
			return nil, fmt.Errorf("offsets of %s: %w", topic, err)
		}
		out := map[int]kafka.PartitionOffsets{}
		for _, po := range res.Topics[topic] {
			if po.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
			}
			out[po.Partition] = po
		}
		for _, p := range partitions {
			if _, ok := out[p]; !ok {
				return nil, fmt.Errorf("offsets of %s/%d: no answer", topic, p)
			}
		}
		return out, nil
	}
	first, err := list(kafka.FirstOffsetOf)
	if err != nil {
		return nil, err
	}
	end, err := list(kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	var byTime map[int]kafka.PartitionOffsets
	if !at.IsZero() {
		if byTime, err = list(func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, at) }); err != nil {
			return nil, err
		}
	}
	out := make([]Span, len(partitions))
	for i, p := range partitions {
		s := Span{Partition: p, First: first[p].FirstOffset, End: end[p].LastOffset}
		s.At = s.First
		if byTime != nil {
			s.At = s.End // no record at or after `at`
			for off := range byTime[p].Offsets {
				if off >= 0 && off < s.End {
					s.At = max(off, s.First)
				}
			}
		}
		out[i] = s
	}
	return out, nil
}

// ReadRange calls fn for each message of one partition with an offset in
// [from, to), in order. It returns when fn has seen the message before to,
// or when a gap (records deleted or compacted away) leaves none before it.
func ReadRange(ctx context.Context, brokers []string, topic string, partition int, from, to int64, fn func(kafka.Message) error) error {
	if from >= to {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond, QueueCapacity: 4096})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return fmt.Errorf("seek %s/%d to %d: %w", topic, partition, from, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read %s/%d: %w", topic, partition, err)
		}
		if m.Offset >= to {
			return nil
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset+1 >= to {
			return nil
		}
	}
}
