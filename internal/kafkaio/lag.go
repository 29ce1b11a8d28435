package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionLag is how far a consumer group is behind on one partition,
// measured from the outside: its committed offset against the log.
type PartitionLag struct {
	Partition int
	// Committed is the group's committed offset; -1 when it has none.
	Committed int64
	// End is the next offset to be written.
	End int64
	// Messages is End minus the first unconsumed offset: the committed one,
	// or the log start when nothing (or something already deleted) is
	// committed.
	Messages int64
	// Oldest is the record timestamp of the first unconsumed record; zero
	// when the group is caught up.
	Oldest time.Time
}

// Seconds is how long the first unconsumed record has waited at now; 0
// when caught up (or when its timestamp is ahead of now).
func (l PartitionLag) Seconds(now time.Time) float64 {
	if l.Messages <= 0 || l.Oldest.IsZero() {
		return 0
	}
	return max(now.Sub(l.Oldest).Seconds(), 0)
}

// GroupLag measures group's lag on partitions 0..partitions-1 of topic. It
// needs no member of the group to be alive: a dead consumer's lag keeps
// growing here while its own gauges stand still.
func GroupLag(ctx context.Context, brokers []string, group, topic string, partitions int) ([]PartitionLag, error) {
	committed, err := CommittedOffsets(ctx, brokers, group, topic, partitions)
	if err != nil {
		return nil, err
	}
	c := client(brokers)
	ps := make([]int, partitions)
	for p := range ps {
		ps[p] = p
	}
	spans, err := ListSpans(ctx, c, topic, ps, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]PartitionLag, len(spans))
	for i, s := range spans {
		l := PartitionLag{Partition: s.Partition, Committed: committed[s.Partition], End: s.End}
		next := max(l.Committed, s.First)
		l.Messages = max(s.End-next, 0)
		if l.Messages > 0 {
			if l.Oldest, err = RecordTime(ctx, c, topic, s.Partition, next); err != nil {
				return nil, err
			}
		}
		out[i] = l
	}
	return out, nil
}

// errNoRecord says a fetch returned nothing at an offset below the end.
var errNoRecord = errors.New("no record returned")

// RecordTime returns the timestamp of the record at offset (or of the
// first one after it, when it was compacted away).
func RecordTime(ctx context.Context, c *kafka.Client, topic string, partition int, offset int64) (time.Time, error) {
	res, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 64 << 10, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return time.Time{}, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
	}
	if res.Error != nil {
		return time.Time{}, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, res.Error)
	}
	for {
		r, err := res.Records.ReadRecord()
		if err != nil {
			return time.Time{}, fmt.Errorf("fetch %s/%d at %d: %w (%w)", topic, partition, offset, errNoRecord, err)
		}
		// A batch may start before the offset asked for.
		if r.Offset >= offset {
			return r.Time, nil
		}
	}
}
