package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// DefaultGroup is the processor's default consumer group.
const DefaultGroup = "streamlab-processor"

// ReplayConfig configures a replay.
type ReplayConfig struct {
	Source
	// Filter selects the dead letters; default all of them.
	Filter Filter
	// MaxReplays skips a dead letter that already failed this many
	// replays; at least 1, no default (the CLI's is 3).
	MaxReplays int
	// Rate limits the writes, in messages per second; default 0, unlimited.
	Rate float64
	// DryRun writes nothing and reports what a replay would do.
	DryRun bool
	// Force replays also what the ledger marks as replayed already.
	Force bool
	// Group is the processor's consumer group: its checkpoints give the
	// replay horizon, its committed offsets tell Wait how far it got;
	// default DefaultGroup.
	Group string
	// Wait, when positive, follows the replayed records through the
	// processor for at most this long (FollowReport); default 0, no follow.
	Wait time.Duration
	// Progress receives a progress bar; default none.
	Progress io.Writer
}

// Validate says what is wrong with a replay configuration.
func (c *ReplayConfig) Validate() error {
	errs := []error{c.Source.Validate(), c.Filter.Validate()}
	if c.MaxReplays < 1 {
		errs = append(errs, fmt.Errorf("max replays %d must be at least 1", c.MaxReplays))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %v must not be negative", c.Rate))
	}
	if c.Wait < 0 {
		errs = append(errs, fmt.Errorf("wait %s must not be negative", c.Wait))
	}
	if c.Wait > 0 && c.DryRun {
		errs = append(errs, errors.New("a dry run writes nothing to wait for"))
	}
	return errors.Join(errs...)
}

// ReplayReport is what a replay knows it did.
type ReplayReport struct {
	DryRun   bool
	RawTopic string
	// Matched is how many dead letters matched the filter before its limit.
	Matched int
	Plan    *Plan
	// Written were acknowledged by the raw topic; Failed were not.
	Written, Failed int
	Horizon         *Horizon
	// Replays maps the raw coordinates of every written record to its
	// dead letter.
	Replays  map[Coords]*Entry
	Followed *FollowReport
}

// PastHorizon counts the planned letters whose window the processor no
// longer keeps, and those for which it cannot tell.
func (r *ReplayReport) PastHorizon() (past, unknown int) {
	for i := range r.Plan.Todo {
		switch r.Horizon.Classify(&r.Plan.Todo[i].Letter) {
		case Past:
			past++
		case Unknown:
			unknown++
		}
	}
	return past, unknown
}

// Replay writes the selected dead letters back to the raw topic, each into
// its source partition, and records each in the ledger once the raw topic
// has acknowledged it. With Wait it then follows them through the
// processor. The report is returned also with an error, saying what was
// done before it.
func Replay(ctx context.Context, cfg ReplayConfig) (*ReplayReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Source = cfg.Source.withDefaults()
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	s := &cfg.Source
	required := []string{s.Topics.DLQ, s.Topics.Raw}
	if !cfg.DryRun {
		required = append(required, s.Topics.Replays)
	}
	counts, err := s.partitionCounts(ctx, required)
	if err != nil {
		return nil, err
	}
	entries, err := Read(ctx, cfg.Source)
	if err != nil {
		return nil, err
	}
	selected, matched := cfg.Filter.Apply(entries)
	rep := &ReplayReport{DryRun: cfg.DryRun, RawTopic: s.Topics.Raw, Matched: matched,
		Plan: MakePlan(selected, s.Topics.DLQ, cfg.MaxReplays, cfg.Force), Replays: map[Coords]*Entry{}}
	if err := rep.Plan.CheckSources(s.Topics.Raw, counts[s.Topics.Raw]); err != nil {
		return rep, err
	}
	if rep.Horizon, err = ReadHorizon(ctx, cfg.Source, cfg.Group, counts[s.Topics.Raw]); err != nil {
		return rep, err
	}
	if cfg.DryRun || len(rep.Plan.Todo) == 0 {
		return rep, nil
	}
	var dlqStart map[int]int64
	if cfg.Wait > 0 {
		// Dead letters of the replayed records can only come after this.
		if dlqStart, err = kafkaio.EndOffsets(ctx, s.Brokers, s.Topics.DLQ, counts[s.Topics.DLQ]); err != nil {
			return rep, err
		}
	}
	if err := write(ctx, &cfg, rep); err != nil {
		return rep, err
	}
	if cfg.Wait > 0 {
		rep.Followed, err = follow(ctx, &cfg, rep.Replays, dlqStart, counts[s.Topics.Raw])
	}
	return rep, err
}

// write replays rep.Plan.Todo in batches, at cfg.Rate, filling rep.Replays
// from the raw topic's acknowledgements.
func write(ctx context.Context, cfg *ReplayConfig, rep *ReplayReport) error {
	s := &cfg.Source
	todo := rep.Plan.Todo
	byCoords := make(map[string]*Entry, len(todo))
	for i := range todo {
		byCoords[todo[i].Coords(s.Topics.DLQ)] = &todo[i]
	}
	var mu sync.Mutex
	acked := map[*Entry]bool{}
	raw := kafkaio.NewWriter(s.Brokers, s.Topics.Raw)
	raw.Balancer = kafkaio.MessagePartition
	raw.Completion = func(msgs []kafka.Message, err error) {
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			for _, h := range m.Headers {
				if e := byCoords[string(h.Value)]; h.Key == deadletter.HeaderReplayOf && e != nil {
					rep.Replays[Coords{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}] = e
					acked[e] = true
				}
			}
		}
	}
	defer raw.Close()
	ledger := kafkaio.NewWriter(s.Brokers, s.Topics.Replays)
	defer ledger.Close()
	bar := newBar(cfg.Progress, len(todo))
	defer bar.done()
	start := time.Now()
	const batchSize = 200
	for i := 0; i < len(todo); {
		n := min(batchSize, len(todo)-i)
		if cfg.Rate > 0 {
			due := int(cfg.Rate*time.Since(start).Seconds()) + 1 - i
			if due <= 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(float64(time.Second) / cfg.Rate)):
				}
				continue
			}
			n = min(n, due)
		}
		batch := todo[i : i+n]
		msgs := make([]kafka.Message, 0, len(batch))
		for j := range batch {
			m, err := batch[j].ReplayMessage(batch[j].Coords(s.Topics.DLQ))
			if err != nil {
				return err // MakePlan leaves truncated letters out: unreachable
			}
			msgs = append(msgs, m)
		}
		// Right after topics create a partition may have no leader yet; a
		// retry writes only what was not acknowledged, so nothing twice.
		_, werr := retry.Do(ctx, s.policy(), s.Log, "replay to "+s.Topics.Raw, kafkaio.Transient, func(ctx context.Context) (struct{}, error) {
			mu.Lock()
			var left []kafka.Message
			for j := range batch {
				if !acked[&batch[j]] {
					left = append(left, msgs[j])
				}
			}
			mu.Unlock()
			return struct{}{}, raw.WriteMessages(ctx, left...)
		})
		mu.Lock()
		marks := ledgerMarks(rep.Plan, s.Topics.DLQ, batch, acked)
		mu.Unlock()
		rep.Written += len(marks.written)
		rep.Failed += len(batch) - len(marks.written)
		// Marked only after the raw topic has them: a crash in between means
		// a second replay, which the processor absorbs as duplicates.
		if len(marks.records) > 0 {
			if err := ledger.WriteMessages(ctx, marks.records...); err != nil {
				return fmt.Errorf("record replays in %s: %w", s.Topics.Replays, err)
			}
		}
		if werr != nil {
			return fmt.Errorf("replay to %s: %d of %d records not acknowledged: %w", s.Topics.Raw, len(batch)-len(marks.written), len(batch), werr)
		}
		i += n
		bar.set(i)
	}
	return nil
}

type marks struct {
	written []*Entry
	records []kafka.Message
}

// ledgerMarks returns the acknowledged letters of batch and their ledger
// records, copies included.
func ledgerMarks(p *Plan, dlqTopic string, batch []Entry, acked map[*Entry]bool) marks {
	now := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	var out marks
	for j := range batch {
		if !acked[&batch[j]] {
			continue
		}
		out.written = append(out.written, &batch[j])
		c := batch[j].Coords(dlqTopic)
		for _, k := range append([]string{c}, p.Copies[c]...) {
			out.records = append(out.records, kafka.Message{Key: []byte(k), Value: now})
		}
	}
	return out
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
