// Package processor is the Kafka processor service: a consumer group on the
// raw topic running one window engine per assigned partition, writing
// aggregates and dead letters, and checkpointing engine state with its input
// offset so that results are exact across crashes, restarts and rebalances
// without Kafka transactions (see docs/design.md, "Exactly-once results").
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
)

// Config configures the processor.
type Config struct {
	Brokers []string
	Topics  topic.Names
	Group   string // consumer group id; default "streamlab-processor"
	Window  window.Config
	Limits  event.Limits

	// A checkpoint is written when either bound is reached (defaults 5 s
	// and 20000 messages); offsets are committed right after it.
	CheckpointInterval time.Duration
	CheckpointEvery    int
	MaxBatch           int // messages processed between output flushes; default 2000

	// FlushOnShutdown emits windows not yet emitted on SIGTERM (contract §6).
	// A rebalance never flushes: only a stop of the whole replica does.
	FlushOnShutdown bool

	SessionTimeout   time.Duration // consumer group session timeout; default 10 s
	RebalanceTimeout time.Duration // default 30 s

	Metrics *Metrics
	Now     func() time.Time
}

func (c *Config) defaults() {
	if c.Group == "" {
		c.Group = "streamlab-processor"
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 5 * time.Second
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 20000
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 2000
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Processor is a running processor replica.
type Processor struct {
	cfg   Config
	agg   *kafka.Writer
	dlq   *kafka.Writer
	state *StateStore
	ready atomic.Bool
}

// Healthy reports whether the replica has joined its group.
func (p *Processor) Healthy() error {
	if !p.ready.Load() {
		return errors.New("not yet joined the consumer group")
	}
	return nil
}

// New validates the configuration and prepares the writers.
func New(cfg Config) (*Processor, error) {
	cfg.defaults()
	if err := cfg.Window.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no Kafka brokers configured")
	}
	return &Processor{
		cfg:   cfg,
		agg:   kafkaio.NewWriter(cfg.Brokers, cfg.Topics.Agg),
		dlq:   kafkaio.NewDLQWriter(cfg.Brokers, cfg.Topics.DLQ),
		state: NewStateStore(cfg.Brokers, cfg.Topics.State),
	}, nil
}

// Run consumes until ctx is cancelled (SIGINT/SIGTERM), then flushes,
// checkpoints, commits and returns nil.
func (p *Processor) Run(parent context.Context) error {
	defer p.close()
	cfg := p.cfg
	// A configuration error found by a worker (state saved with other window
	// settings) stops the whole replica: retrying cannot fix it.
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	if err := p.state.Check(ctx, cfg.Topics.Raw); err != nil {
		if parent.Err() != nil {
			return nil // stopped before it started: nothing to flush
		}
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    cfg.Group,
		Brokers:               cfg.Brokers,
		Topics:                []string{cfg.Topics.Raw},
		StartOffset:           kafka.FirstOffset,
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      cfg.RebalanceTimeout,
		HeartbeatInterval:     cfg.SessionTimeout / 5,
		JoinGroupBackoff:      time.Second,
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { slog.Debug("consumer group: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", cfg.Group, err)
	}
	var workers sync.WaitGroup
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				// Transient group errors (coordinator moved, rebalance in
				// progress) are retried by kafka-go itself; log and go on.
				slog.Warn("consumer group generation failed, rejoining", "err", err)
				continue
			}
			break
		}
		p.ready.Store(true)
		parts := gen.Assignments[cfg.Topics.Raw]
		ids := make([]int, len(parts))
		for i, a := range parts {
			ids[i] = a.ID
		}
		slog.Info("partitions assigned", "generation", gen.ID, "partitions", ids)
		cfg.Metrics.Assigned.Set(float64(len(parts)))
		for _, a := range parts {
			w := &worker{p: p, gen: gen, partition: int32(a.ID)}
			workers.Add(1)
			gen.Start(func(genCtx context.Context) {
				defer workers.Done()
				err := w.run(genCtx, ctx)
				switch {
				case err == nil || ctx.Err() != nil:
				case errors.Is(err, window.ErrConfigMismatch):
					stop(err)
				default:
					slog.Error("partition worker stopped; the group will rebalance and retry", "partition", w.partition, "err", err)
				}
			})
		}
	}
	// Shutdown: workers see ctx, flush and checkpoint; only then leave the
	// group, so the next owner starts from our final checkpoint.
	workers.Wait()
	if err := group.Close(); err != nil {
		slog.Debug("close consumer group", "err", err)
	}
	cfg.Metrics.Assigned.Set(0)
	if cause := context.Cause(ctx); parent.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	slog.Info("processor stopped")
	return nil
}

func (p *Processor) close() {
	for _, c := range []interface{ Close() error }{p.agg, p.dlq, p.state} {
		if err := c.Close(); err != nil {
			slog.Debug("close writer", "err", err)
		}
	}
}
