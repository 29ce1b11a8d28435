package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/window"
)

// worker owns one source partition for one consumer-group generation. Its
// goroutine fetches and processes; its outbox writes outputs and
// checkpoints behind it.
type worker struct {
	p         *Processor
	gen       *kafka.Generation
	partition int32
	label     string
	stats     *partStats
	log       *slog.Logger // the replica's, with the partition

	part    *pipeline.Partition
	next    int64 // next input offset to process; < 0 until known
	sinceCP int   // messages processed since the last checkpoint
	lastCP  time.Time
	flushed bool // a shutdown flush changed the state since the last checkpoint

	out     *outbox
	cur     *batch                   // the batch being filled
	emitErr error                    // the first emission that could not be encoded
	times   map[string]time.Duration // per activity, added to Metrics.Time per batch
}

func newWorker(p *Processor, gen *kafka.Generation, partition int32) *worker {
	return &worker{p: p, gen: gen, partition: partition, label: strconv.Itoa(int(partition)), log: p.log.With("partition", partition),
		stats: newPartStats(),
		times: map[string]time.Duration{}}
}

// runPolicy is the backoff of transient errors once running: no deadline,
// the generation or the outbox's drain timeout bounds it.
func (w *worker) runPolicy() retry.Policy {
	pol := w.p.cfg.Retry
	pol.Timeout = 0
	return pol
}

// run restores the partition's state, processes until the generation ends
// or the replica stops, and leaves a checkpoint behind. parent is the
// replica's own context: when it ends (SIGTERM) the worker flushes open
// windows (Config.FlushOnShutdown); when only replica ends, another worker
// stopped it on an error and nothing is flushed.
func (w *worker) run(genCtx, replica, parent context.Context) error {
	if err := w.work(genCtx, replica, parent); err != nil {
		return fmt.Errorf("partition %d: %w", w.partition, err)
	}
	return nil
}

func (w *worker) work(genCtx, replica, parent context.Context) error {
	ctx, cancel := context.WithCancel(genCtx)
	defer cancel()
	defer context.AfterFunc(replica, cancel)()
	defer w.p.forget(w.partition, w.stats)

	if err := w.restore(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // the generation ended while restoring: nothing was processed
		}
		return err
	}
	w.p.register(w.partition, w.stats)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	in := newFetcher(fetchCtx, w, w.next)
	defer in.stop()
	defer stopFetch()
	w.out = newOutbox(w, w.p.cfg.MaxInFlight)
	var err error
	if w.cur, err = w.out.next(); err != nil {
		w.out.abort()
		return err
	}
	if err := w.loop(ctx, in); err != nil {
		w.out.abort()
		return err
	}
	return w.finish(parent.Err() != nil && w.p.cfg.FlushOnShutdown)
}

// loop fetches and processes until ctx ends.
func (w *worker) loop(ctx context.Context, f *fetcher) error {
	for ctx.Err() == nil {
		if err := w.out.failed(); err != nil {
			return err
		}
		// Half a second at most, so that an idle partition still
		// checkpoints on time.
		in, err := f.get(ctx, 500*time.Millisecond)
		if err != nil {
			return err
		}
		if in != nil {
			err := w.process(in)
			f.put(in)
			if err != nil {
				return err
			}
		}
		if err := w.hand(); err != nil {
			return err
		}
		if w.checkpointDue() {
			if err := w.checkpoint(false); err != nil {
				return err
			}
		}
		w.addTimes()
	}
	return nil
}

// finish leaves the partition to its next owner: the generation ended
// (rebalance) or the replica is stopping. Every processed message's outputs
// are queued; a final checkpoint after them lets the next owner resume
// exactly here.
func (w *worker) finish(flush bool) error {
	if flush && w.part != nil && w.owns() {
		w.part.Engine.Flush(w.emit)
		if len(w.cur.agg) > 0 {
			w.flushed = true
		}
	}
	var err error
	if w.sinceCP > 0 || w.flushed {
		err = w.checkpoint(w.flushed)
	} else {
		err = w.hand()
	}
	w.addTimes()
	return errors.Join(err, w.out.close())
}

// owns asks the group coordinator whether this replica still owns the
// partition, by committing the offset of the last checkpoint. A shutdown
// flush publishes revisions that no reprocessing would reproduce, so a
// replica that lost the partition (a zombie) must not publish them.
func (w *worker) owns() bool {
	if w.next < 0 {
		return true // nothing processed: nothing to flush either
	}
	err := w.gen.CommitOffsets(map[string]map[int]int64{w.p.cfg.Topics.Raw: {int(w.partition): w.committed()}})
	if err != nil {
		w.log.Warn("not flushing open windows: this replica may no longer own the partition", "err", err)
		return false
	}
	return true
}

// committed is the offset the last checkpoint covers.
func (w *worker) committed() int64 {
	return w.stats.snapshot().committed
}

func (w *worker) restore(ctx context.Context) error {
	cfg := w.p.cfg
	what := "load checkpoint from " + cfg.Topics.State
	cp, err := retry.Do(ctx, w.runPolicy(), w.log, what, kafkaio.Transient, func(ctx context.Context) (*checkpoint.Checkpoint, error) {
		return w.p.store.Load(ctx, w.partition)
	})
	if err != nil {
		return err
	}
	var eng *window.Engine
	if cp == nil {
		eng, err = window.New(cfg.Window, w.partition)
		w.next = -1
		cfg.Metrics.Restores.WithLabelValues("empty").Inc()
	} else {
		eng, err = window.Restore(cfg.Window, w.partition, cp.Engine)
		w.next = cp.NextOffset
		cfg.Metrics.Restores.WithLabelValues("checkpoint").Inc()
	}
	if err != nil {
		return err
	}
	if cp != nil && len(cp.Pending) > 0 {
		if err := w.writePending(ctx, cp.Pending); err != nil {
			return err
		}
	}
	w.part = &pipeline.Partition{Engine: eng, Limits: cfg.Limits, Now: cfg.Now, Observer: newObserver(cfg.Metrics, cfg.Observer)}
	w.lastCP = time.Now()
	wm, hasWM := eng.Watermark()
	w.stats.update(func(s *partState) {
		s.next, s.watermark, s.hasWM, s.open, s.lastCP = w.next, wm, hasWM, eng.OpenWindows(), w.lastCP
		s.committed = w.next
	})
	w.log.Info("partition restored", "next_offset", w.next, "from_checkpoint", cp != nil, "open_windows", eng.OpenWindows())
	return nil
}

// writePending writes the records of a shutdown flush that the checkpoint
// carries: they may not have reached the topic before the replica stopped.
func (w *worker) writePending(ctx context.Context, recs []checkpoint.Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
	}
	what := "write the flushed windows of the last checkpoint"
	_, err := retry.Do(ctx, w.runPolicy(), w.log, what, kafkaio.Transient, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, w.p.agg.WriteMessages(ctx, msgs...)
	})
	return err
}

// process runs a fetched input through the pipeline into the current
// output batch.
func (w *worker) process(in *input) error {
	start := time.Now()
	defer func() { w.times[activityProcess] += time.Since(start) }()
	for i := range in.msgs {
		w.part.Process(&in.msgs[i], w.emit, w.dead)
	}
	if w.emitErr != nil {
		return w.emitErr
	}
	n := len(in.msgs)
	w.next = in.msgs[n-1].Offset + 1
	w.sinceCP += n
	w.p.processed.Add(int64(n))
	wm, hasWM := w.part.Engine.Watermark()
	open := w.part.Engine.OpenWindows()
	w.stats.update(func(s *partState) {
		s.next, s.watermark, s.hasWM, s.open, s.end = w.next, wm, hasWM, open, in.end
	})
	return nil
}

func (w *worker) emit(r *aggregate.Record) {
	b, err := r.Marshal()
	if err != nil {
		if w.emitErr == nil {
			w.emitErr = err
		}
		return
	}
	c := w.cur
	start := len(c.arena)
	c.arena = append(c.arena, r.WindowStart...)
	c.arena = append(c.arena, '/')
	c.arena = strconv.AppendInt(c.arena, int64(r.SourcePartition), 10)
	key := c.arena[start:len(c.arena):len(c.arena)]
	c.agg = append(c.agg, kafka.Message{Key: key, Value: b})
}

func (w *worker) dead(l *deadletter.Letter) {
	// A record larger than the DLQ topic accepts would be refused for good
	// and stall the partition: its value is cut to fit, and the record says
	// so (original size and SHA-256 in dlq.value.* headers).
	cut, err := l.Truncate(w.p.dlqLimit)
	if err != nil {
		if w.emitErr == nil {
			w.emitErr = err
		}
		return
	}
	if cut {
		w.p.cfg.Metrics.Truncated.Inc()
	}
	// The key and value live in the fetcher's buffer, reused as soon as
	// the batch is processed: the outputs get their own copy.
	c := w.cur
	l.Key, c.arena = keep(c.arena, l.Key)
	l.Value, c.arena = keep(c.arena, l.Value)
	c.dlq = append(c.dlq, l.Message())
}

// keep appends b to arena and returns the copy, nil staying nil and empty
// staying empty (a Kafka null and an empty byte string differ).
func keep(arena, b []byte) ([]byte, []byte) {
	if b == nil {
		return nil, arena
	}
	if arena == nil {
		arena = make([]byte, 0, 64<<10)
	}
	start := len(arena)
	arena = append(arena, b...)
	return arena[start:len(arena):len(arena)], arena
}

// hand passes the current batch to the outbox if it has outputs and takes
// a fresh one.
func (w *worker) hand() error {
	if w.cur.empty() {
		return nil
	}
	w.out.send(w.cur)
	var err error
	w.cur, err = w.out.next()
	return err
}

func (w *worker) checkpointDue() bool {
	cfg := w.p.cfg
	if w.sinceCP == 0 {
		return false
	}
	return time.Since(w.lastCP) >= cfg.CheckpointInterval || (cfg.CheckpointEvery > 0 && w.sinceCP >= cfg.CheckpointEvery)
}

// checkpoint queues a checkpoint of the state after every message
// processed so far, behind their outputs. pending (a shutdown flush) makes
// the checkpoint carry the current batch's aggregates and be saved before
// they are written.
func (w *worker) checkpoint(pending bool) error {
	if w.next < 0 {
		return w.hand() // nothing processed yet: no state to save
	}
	cfg := w.p.cfg
	start := time.Now()
	snap, err := w.part.Engine.Snapshot()
	if err != nil {
		return err
	}
	cp := &checkpoint.Checkpoint{Version: checkpoint.Version, Group: cfg.Group, Topic: cfg.Topics.Raw, Partition: w.partition,
		NextOffset: w.next, WrittenAt: cfg.Now().UTC(), Engine: snap}
	if pending {
		for _, m := range w.cur.agg {
			cp.Pending = append(cp.Pending, checkpoint.Record{Key: m.Key, Value: m.Value})
		}
	}
	w.cur.cp, w.cur.cpFirst = cp, pending
	w.cur.cpBuilt = time.Since(start)
	w.times[activityCheckpoint] += w.cur.cpBuilt
	w.sinceCP, w.flushed, w.lastCP = 0, false, time.Now()
	return w.hand()
}

// addTimes moves the time spent per activity to the metrics.
func (w *worker) addTimes() {
	for a, d := range w.times {
		if d > 0 {
			w.p.cfg.Metrics.Time.WithLabelValues(a).Add(d.Seconds())
			w.times[a] = 0
		}
	}
}
