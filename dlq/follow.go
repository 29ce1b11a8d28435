package dlq

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// FollowReport is what became of the replayed records, seen from outside
// the processor: a replayed record is back in the DLQ when a dead letter
// with its raw coordinates (dlq.source.*) appeared; it healed when the
// processor's committed offset passed it without one (it was counted, or
// it was already counted and changed nothing). The processor writes a
// record's dead letter and waits for its acknowledgement before the
// checkpoint that precedes the commit, so a committed offset past a record
// means its dead letter, if any, is already on the DLQ topic.
type FollowReport struct {
	Group   string
	Waited  time.Duration
	Healed  int
	Back    map[event.Reason]int
	Pending int
	// Behind names, per partition with pending records, the group's
	// committed offset and the last replayed offset.
	Behind []string
}

// BackTotal is the number of replayed records back in the DLQ.
func (f *FollowReport) BackTotal() int {
	n := 0
	for _, v := range f.Back {
		n += v
	}
	return n
}

// ErrStillPending is wrapped by the error of a follow that timed out.
var ErrStillPending = fmt.Errorf("replayed records not processed yet")

// follow waits, at most cfg.Wait, until the processor group's committed
// offsets pass every replayed record, then looks for their dead letters
// written since dlqStart.
func follow(ctx context.Context, cfg *ReplayConfig, replays map[Coords]*Entry, dlqStart map[int]int64, rawPartitions int) (*FollowReport, error) {
	s := &cfg.Source
	start := time.Now()
	last := map[int32]int64{}
	for c := range replays {
		last[c.Partition] = max(last[c.Partition], c.Offset)
	}
	deadline := time.NewTimer(cfg.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var committed map[int32]int64
	var lastErr error
	for {
		c, err := committedOffsets(ctx, s.Brokers, cfg.Group, s.Topics.Raw, rawPartitions)
		if err == nil {
			committed, lastErr = c, nil
			if passed(committed, last) {
				break
			}
		} else {
			lastErr = err // transient or not, the deadline bounds it
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
		case <-tick.C:
			continue
		}
		break
	}
	f := &FollowReport{Group: cfg.Group, Back: map[event.Reason]int{}}
	back := map[Coords]bool{}
	for p, from := range dlqStart {
		if err := kafkaio.ReadPartitionFrom(ctx, s.Brokers, s.Topics.DLQ, p, from, func(m kafka.Message) error {
			l, err := deadletter.FromMessage(m)
			if err != nil {
				return nil // not a dead letter: Read reports those
			}
			src := Coords{Topic: l.Topic, Partition: l.Partition, Offset: l.Offset}
			if replays[src] != nil && !back[src] {
				back[src] = true
				f.Back[l.Reason]++
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("look for the replayed records' dead letters in %s: %w", s.Topics.DLQ, err)
		}
	}
	behind := map[int32]bool{}
	for c := range replays {
		switch {
		case back[c]:
		case committed != nil && committed[c.Partition] > c.Offset:
			f.Healed++
		default:
			f.Pending++
			behind[c.Partition] = true
		}
	}
	for _, p := range sortedKeys(behind) {
		at := "nothing committed"
		if committed != nil && committed[p] >= 0 {
			at = fmt.Sprintf("committed up to %d", committed[p])
		}
		f.Behind = append(f.Behind, fmt.Sprintf("partition %d: %s, replayed up to %d", p, at, last[p]))
	}
	f.Waited = time.Since(start).Round(100 * time.Millisecond)
	if f.Pending > 0 {
		err := fmt.Errorf("%w after %s: %d of %d in group %s (%v)", ErrStillPending, f.Waited, f.Pending, len(replays), cfg.Group, f.Behind)
		if lastErr != nil {
			err = fmt.Errorf("%w; last error reading the group's offsets: %w", err, lastErr)
		}
		return f, err
	}
	return f, nil
}

func passed(committed map[int32]int64, last map[int32]int64) bool {
	for p, off := range last {
		if committed[p] <= off {
			return false
		}
	}
	return true
}

// committedOffsets returns the group's committed offset per partition of
// topic (-1 where it committed nothing), keyed like the dead letters'
// source partitions.
func committedOffsets(ctx context.Context, brokers []string, group, topic string, partitions int) (map[int32]int64, error) {
	c, err := kafkaio.CommittedOffsets(ctx, brokers, group, topic, partitions)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(c))
	for p, off := range c {
		out[int32(p)] = off
	}
	return out, nil
}
