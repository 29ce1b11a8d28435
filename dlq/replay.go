package dlq

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

// HeaderReplayOf names, on a replayed raw message, the dead letter it came
// from (DLQ topic/partition/offset).
const HeaderReplayOf = "dlq.replay.of"

// ReplayConfig configures a replay.
type ReplayConfig struct {
	Brokers    []string
	Topics     topic.Names
	Filter     Filter
	MaxReplays int     // a dead letter that already failed this many replays is skipped
	Rate       float64 // messages per second, 0 = unlimited
	DryRun     bool
	Force      bool      // replay even what the ledger marks as replayed
	Progress   io.Writer // progress bar; nil for none
}

// ReplaySummary is what a replay did.
type ReplaySummary struct {
	Selected          int
	Replayed          int
	SkippedReplayed   int // the ledger says it was replayed already
	SkippedMaxReplays int
	Failed            int
	DryRun            bool
}

func (s ReplaySummary) String() string {
	verb := "replayed"
	if s.DryRun {
		verb = "would replay"
	}
	return fmt.Sprintf("selected %d: %s %d, skipped as already replayed %d, skipped at max replays %d, failed %d",
		s.Selected, verb, s.Replayed, s.SkippedReplayed, s.SkippedMaxReplays, s.Failed)
}

// Plan decides, without I/O, what a replay does with each selected entry.
func Plan(entries []Entry, maxReplays int, force bool) (todo []Entry, sum ReplaySummary) {
	sum.Selected = len(entries)
	for _, e := range entries {
		switch {
		case e.ReplayCount >= maxReplays:
			sum.SkippedMaxReplays++
		case e.Replayed && !force:
			sum.SkippedReplayed++
		default:
			todo = append(todo, e)
		}
	}
	return todo, sum
}

// ReplayMessage is the raw message a dead letter is replayed as: the
// original key and value byte for byte, plus headers that carry the replay
// count (the processor reads it) and where the letter came from.
func ReplayMessage(e *Entry, dlqTopic string) kafka.Message {
	hs := []deadletter.Header{
		{Key: deadletter.HeaderReplayCount, Value: strconv.AppendInt(nil, int64(e.ReplayCount+1), 10)},
		{Key: deadletter.HeaderSourceTopic, Value: []byte(e.Topic)},
		{Key: deadletter.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(e.Partition), 10)},
		{Key: deadletter.HeaderSourceOffset, Value: strconv.AppendInt(nil, e.Offset, 10)},
		{Key: deadletter.HeaderReason, Value: []byte(e.Reason)},
		{Key: HeaderReplayOf, Value: []byte(e.Coords(dlqTopic))},
	}
	return kafka.Message{Key: e.Key, Value: e.Value, Headers: kafkaio.Headers(hs)}
}

// Replay writes the selected dead letters back to the raw topic and records
// each in the ledger once the raw topic has acknowledged it.
func Replay(ctx context.Context, cfg ReplayConfig) (ReplaySummary, error) {
	if cfg.MaxReplays < 1 {
		return ReplaySummary{}, fmt.Errorf("--max-replays %d: must be at least 1", cfg.MaxReplays)
	}
	entries, err := Read(ctx, cfg.Brokers, cfg.Topics)
	if err != nil {
		return ReplaySummary{}, err
	}
	todo, sum := Plan(cfg.Filter.Apply(entries), cfg.MaxReplays, cfg.Force)
	sum.DryRun = cfg.DryRun
	if cfg.DryRun {
		sum.Replayed = len(todo)
		return sum, nil
	}
	raw := kafkaio.NewWriter(cfg.Brokers, cfg.Topics.Raw)
	defer raw.Close()
	ledger := kafkaio.NewWriter(cfg.Brokers, cfg.Topics.Replays)
	defer ledger.Close()
	bar := newBar(cfg.Progress, len(todo))
	start := time.Now()
	const batchSize = 200
	for i := 0; i < len(todo); {
		n := min(batchSize, len(todo)-i)
		if cfg.Rate > 0 {
			due := int(cfg.Rate*time.Since(start).Seconds()) + 1 - i
			if due <= 0 {
				select {
				case <-ctx.Done():
					return sum, ctx.Err()
				case <-time.After(time.Duration(float64(time.Second) / cfg.Rate)):
				}
				continue
			}
			n = min(n, due)
		}
		batch := todo[i : i+n]
		msgs := make([]kafka.Message, len(batch))
		marks := make([]kafka.Message, len(batch))
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for j := range batch {
			msgs[j] = ReplayMessage(&batch[j], cfg.Topics.DLQ)
			marks[j] = kafka.Message{Key: []byte(batch[j].Coords(cfg.Topics.DLQ)), Value: []byte(now)}
		}
		if err := raw.WriteMessages(ctx, msgs...); err != nil {
			sum.Failed += len(batch)
			bar.done()
			return sum, fmt.Errorf("replay to %s: %w", cfg.Topics.Raw, err)
		}
		// Marked only after the raw topic has them: a crash in between means
		// a second replay, which the processor absorbs as duplicates.
		if err := ledger.WriteMessages(ctx, marks...); err != nil {
			sum.Replayed += len(batch)
			bar.done()
			return sum, fmt.Errorf("record replays in %s: %w", cfg.Topics.Replays, err)
		}
		sum.Replayed += len(batch)
		i += n
		bar.set(i)
	}
	bar.done()
	return sum, nil
}

type bar struct {
	w     io.Writer
	total int
	last  time.Time
}

func newBar(w io.Writer, total int) *bar { return &bar{w: w, total: total} }

func (b *bar) set(n int) {
	if b.w == nil || b.total == 0 || (time.Since(b.last) < 100*time.Millisecond && n < b.total) {
		return
	}
	b.last = time.Now()
	const width = 30
	fill := width * n / b.total
	fmt.Fprintf(b.w, "\rreplaying [%s%s] %d/%d", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), n, b.total)
}

func (b *bar) done() {
	if b.w != nil && b.total > 0 {
		fmt.Fprintln(b.w)
	}
}
