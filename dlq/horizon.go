package dlq

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/window"
)

// Horizon is what the processor's checkpoints say about each raw
// partition: its window settings and watermark, and so which dead letters
// a replay can no longer heal.
//
// It reads the newest checkpoint of every partition on the state topic (the
// engine snapshot the processor resumes from) rather than the aggregate
// topic: a checkpoint carries the exact watermark and window settings,
// while an aggregate's window end only bounds the watermark from below and
// a shutdown flush publishes windows the watermark has not reached. Its
// limit: a checkpoint is as old as the processor's checkpoint interval (5 s
// by default) or the time it last ran. The watermark only grows, so "past
// the horizon" is certain; "within" can turn into "past" by the time the
// replayed record is processed.
type Horizon struct {
	Group      string
	Partitions map[int32]*PartitionState
	// Config is the window settings of the checkpoints; nil when no
	// partition has one.
	Config *window.Config
}

// PartitionState is one raw partition's newest checkpoint.
type PartitionState struct {
	Engine    *window.Engine // nil when unknown
	WrittenAt time.Time
	// Unknown says why Engine is nil ("no checkpoint of group g").
	Unknown string
}

// Verdict is what the horizon says about replaying one dead letter.
type Verdict string

// Verdicts.
const (
	// NoEventTime: the letter failed before its event time was read; the
	// horizon does not apply.
	NoEventTime Verdict = "-"
	// Within: the letter's window is still kept for replays.
	Within Verdict = "within"
	// Past: the window ended before watermark − allowed lateness − replay
	// retention; replayed, the event comes back as late_event.
	Past Verdict = "past"
	// Unknown: no usable checkpoint for the letter's partition.
	Unknown Verdict = "unknown"
)

// Classify says whether replaying l can still reach its window.
func (h *Horizon) Classify(l *deadletter.Letter) Verdict {
	if !l.HasEventTime {
		return NoEventTime
	}
	ps := h.Partitions[l.Partition]
	if ps == nil || ps.Engine == nil {
		return Unknown
	}
	if ps.Engine.IsLate(l.EventTimeMs, true) {
		return Past
	}
	return Within
}

// WindowStart returns the start of l's window, if both its event time and
// the window size are known.
func (h *Horizon) WindowStart(l *deadletter.Letter) (int64, bool) {
	if !l.HasEventTime || h.Config == nil {
		return 0, false
	}
	return h.Config.WindowStart(l.EventTimeMs), true
}

// ReadHorizon reads the newest checkpoint of group for each of the raw
// topic's partitions. A missing state topic or checkpoint leaves those
// partitions Unknown; only I/O failures are errors.
func ReadHorizon(ctx context.Context, src Source, group string, rawPartitions int) (*Horizon, error) {
	s := src.withDefaults()
	h := &Horizon{Group: group, Partitions: map[int32]*PartitionState{}}
	counts, err := s.partitionCounts(ctx, nil, s.Topics.State)
	if err != nil {
		return nil, err
	}
	for p := int32(0); int(p) < rawPartitions; p++ {
		ps := &PartitionState{}
		h.Partitions[p] = ps
		if int(p) >= counts[s.Topics.State] {
			ps.Unknown = fmt.Sprintf("the state topic %s has no partition %d", s.Topics.State, p)
			continue
		}
		m, err := retry.Do(ctx, s.policy(), s.Log, fmt.Sprintf("read the checkpoint of partition %d from %s", p, s.Topics.State), kafkaio.Transient,
			func(ctx context.Context) (*kafka.Message, error) {
				return lastRecord(ctx, s.Brokers, s.Topics.State, int(p))
			})
		if err != nil {
			return nil, err
		}
		h.restore(ps, m, s.Topics.Raw, p)
	}
	return h, nil
}

func (h *Horizon) restore(ps *PartitionState, m *kafka.Message, raw string, p int32) {
	if m == nil {
		ps.Unknown = "no checkpoint yet"
		return
	}
	// The newest record of a state partition is a checkpoint record (the
	// processor writes it last in every checkpoint); it holds the engine's
	// settings and watermark (checkpoint.Checkpoint.Engine).
	want := checkpoint.Key(h.Group, raw, p)
	k, ok := checkpoint.ParseKey(string(m.Key))
	if !ok || k.Kind != checkpoint.KindCheckpoint || k.Prefix() != want {
		of := string(m.Key)
		if ok {
			of = k.Prefix()
		}
		ps.Unknown = fmt.Sprintf("the newest checkpoint on the state topic is %q, not %q", of, want)
		return
	}
	cp, err := checkpoint.DecodeCheckpoint(m.Value)
	if err != nil {
		ps.Unknown = err.Error()
		return
	}
	eng, err := window.RestoreMeta(cp.Engine)
	if err != nil {
		ps.Unknown = fmt.Sprintf("checkpoint of partition %d: %v", p, err)
		return
	}
	ps.Engine, ps.WrittenAt = eng, cp.WrittenAt
	cfg := eng.Config()
	h.Config = &cfg
}

// lastRecord returns the last record of a partition, or nil when it is
// empty: on the compacted state topic, the newest checkpoint.
func lastRecord(ctx context.Context, brokers []string, topic string, partition int) (*kafka.Message, error) {
	first, last, err := kafkaio.Offsets(ctx, brokers, topic, partition)
	if err != nil || last <= first {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 128 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(last - 1); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s/%d@%d: %w", topic, partition, last-1, err)
	}
	return &m, nil
}
