package kafkaio

import (
	"context"
	"errors"
	"fmt"

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
