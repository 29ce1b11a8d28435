// Package processor is the Kafka processor service: a consumer group on the
// raw topic running one window engine per assigned partition, writing
// aggregates and dead letters, and checkpointing engine state with its input
// offset so that results are exact across crashes, restarts and rebalances
// without Kafka transactions (see docs/design.md, "Exactly-once results").
//
// It heals or stops (internal/retry): a broker that is not up yet, a
// partition without a leader or a dropped connection is retried, one log
// line per change of state (up to Config.Retry's timeout at start, for as
// long as the replica runs afterwards); a missing topic, a state topic that
// holds another group's checkpoints, window settings that differ from the
// checkpoint, or an output the broker refuses for good stops the replica at
// once with an error that says what to fix. It never loops through
// rebalances on an error that a rebalance cannot fix.
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

	"github.com/streamlab/streamlab/internal/kafkaio"
)

// outputBatchSize is the most records of one produce request per partition.
const outputBatchSize = 256

// Processor is a running processor replica.
type Processor struct {
	cfg   Config
	log   *slog.Logger
	agg   *kafka.Writer
	dlq   *kafka.Writer
	store Store
	state *kafkaStore // the store on the state topic, unless Config.Store replaced it
	ready atomic.Bool

	topo     topology // learnt at start by checkTopics
	dlqLimit int      // the size a dead letter may have, bytes

	mu        sync.Mutex
	parts     map[int32]*partStats // the partitions this replica works on now
	processed atomic.Int64         // messages processed, for the progress line
}

// Healthy reports whether the replica has joined its group.
func (p *Processor) Healthy() error {
	if !p.ready.Load() {
		return errors.New("not yet joined the consumer group")
	}
	return nil
}

// New validates the configuration and prepares the writers; it does not
// connect to Kafka (Run does).
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Processor{
		cfg:   cfg,
		log:   cfg.Logger,
		agg:   kafkaio.NewWriter(cfg.Brokers, cfg.Topics.Agg),
		dlq:   kafkaio.NewDLQWriter(cfg.Brokers, cfg.Topics.DLQ),
		store: cfg.Store,
		parts: map[int32]*partStats{},
	}
	// kafka-go allocates (and clears) a message slice of BatchSize per
	// partition batch: the shared writers' 5000 made every small write of
	// a few records cost a 750 KB allocation. A quarter of a megabyte of
	// aggregates is a full batch anyway.
	p.agg.BatchSize, p.dlq.BatchSize = outputBatchSize, outputBatchSize
	if p.store == nil {
		p.state = newKafkaStore(cfg.Brokers, cfg.Topics.State, cfg.Group, cfg.Topics.Raw)
		p.store = p.state
	}
	return p, nil
}

// Run consumes until ctx is cancelled (SIGINT/SIGTERM), then flushes,
// checkpoints, commits and returns nil. It returns an error when the replica
// cannot work: the broker did not come up within the connect timeout, or a
// permanent error (see the package comment).
func (p *Processor) Run(parent context.Context) error {
	defer p.close()
	cfg := p.cfg
	topo, err := p.checkTopics(parent)
	if err != nil {
		if parent.Err() != nil {
			return nil // stopped before it started: nothing to flush
		}
		return err
	}
	p.topo = topo
	if p.state != nil {
		p.state.maxBytes = topo.stateMaxBytes
	}
	p.dlqLimit = topo.dlqRecordLimit()
	p.dlq.BatchBytes = int64(p.dlqLimit)
	if w := topo.dlqWarning(cfg.Topics.Raw, cfg.Topics.DLQ); w != "" {
		p.log.Warn(w)
	}

	// A permanent error found by a worker stops the whole replica: a
	// rebalance would hand the partition to a replica that fails the same
	// way.
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
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
		ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { p.log.Debug("consumer group: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", cfg.Group, err)
	}
	var reporters sync.WaitGroup
	reporters.Add(1)
	go func() {
		defer reporters.Done()
		p.report(ctx)
	}()

	var workers sync.WaitGroup
	var groupErr string
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// kafka-go rejoins by itself after JoinGroupBackoff; say so
			// once per change of state, not once a second.
			if err.Error() != groupErr {
				groupErr = err.Error()
				p.log.Warn("consumer group: joining failed; kafka-go retries every second", "group", cfg.Group, "err", err)
			}
			continue
		}
		if groupErr != "" {
			p.log.Info("consumer group: joined again", "group", cfg.Group)
			groupErr = ""
		}
		p.ready.Store(true)
		parts := gen.Assignments[cfg.Topics.Raw]
		ids := make([]int, len(parts))
		for i, a := range parts {
			ids[i] = a.ID
		}
		p.log.Info("partitions assigned", "generation", gen.ID, "partitions", ids)
		cfg.Metrics.Assigned.Set(float64(len(parts)))
		for _, a := range parts {
			w := newWorker(p, gen, int32(a.ID))
			workers.Add(1)
			gen.Start(func(genCtx context.Context) {
				defer workers.Done()
				err := w.run(genCtx, ctx, parent)
				switch {
				case err == nil:
				case ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled):
					// Another worker already stopped the replica.
				case genCtx.Err() != nil || parent.Err() != nil:
					w.log.Warn("partition worker stopped before its last outputs and checkpoint were acknowledged; the partition's next owner resumes from its last checkpoint",
						"err", err)
				default:
					stop(err)
				}
			})
		}
	}
	// Shutdown: workers see ctx, flush and checkpoint; only then leave the
	// group, so the next owner starts from our final checkpoint.
	workers.Wait()
	if err := group.Close(); err != nil {
		p.log.Debug("close consumer group", "err", err)
	}
	reporters.Wait()
	cfg.Metrics.Assigned.Set(0)
	if cause := context.Cause(ctx); parent.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	p.log.Info("processor stopped")
	return nil
}

func (p *Processor) close() {
	for _, c := range []interface{ Close() error }{p.agg, p.dlq} {
		if err := c.Close(); err != nil {
			p.log.Debug("close writer", "err", err)
		}
	}
}
