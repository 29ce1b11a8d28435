package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/window"
)

// worker owns one source partition for one consumer-group generation.
type worker struct {
	p         *Processor
	gen       *kafka.Generation
	partition int32

	part      *pipeline.Partition
	next      int64 // next input offset to process; < 0 until known
	sinceCP   int   // messages processed since the last checkpoint
	lastCP    time.Time
	counters  map[pipeline.Outcome]prometheus.Counter
	aggOut    []kafka.Message
	dlqOut    []kafka.Message
	outputErr error
}

// run restores the partition's state, processes until the generation ends or
// the replica shuts down, and leaves a checkpoint behind either way.
func (w *worker) run(genCtx, shutdown context.Context) error {
	cfg := w.p.cfg
	ctx, cancel := context.WithCancel(genCtx)
	defer cancel()
	stop := context.AfterFunc(shutdown, cancel)
	defer stop()
	label := strconv.Itoa(int(w.partition))
	defer func() {
		for _, g := range []interface{ DeleteLabelValues(...string) bool }{cfg.Metrics.Watermark, cfg.Metrics.WatermarkLag, cfg.Metrics.ConsumerLag, cfg.Metrics.OpenWindows} {
			g.DeleteLabelValues(label)
		}
	}()

	if err := w.restore(ctx); err != nil {
		return err
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		Topic:          cfg.Topics.Raw,
		Partition:      int(w.partition),
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  4096,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafka.LoggerFunc(func(f string, a ...any) { slog.Debug("kafka reader: " + fmt.Sprintf(f, a...)) }),
	})
	defer reader.Close()
	start := w.next
	if start < 0 {
		start = kafka.FirstOffset
	}
	if err := reader.SetOffset(start); err != nil {
		return fmt.Errorf("partition %d: seek to %d: %w", w.partition, start, err)
	}
	w.lastCP = time.Now()

	var loopErr error
	for ctx.Err() == nil {
		batch, err := w.fetch(ctx, reader)
		if err != nil {
			if ctx.Err() == nil {
				loopErr = err
			}
			break
		}
		if len(batch) > 0 {
			w.process(batch, label)
			if err := w.flushOutputs(ctx); err != nil {
				if ctx.Err() != nil {
					break // interrupted: the final flush below writes them again
				}
				// Outputs of this batch may be incomplete: do not checkpoint
				// past them. The next owner reprocesses from the last
				// checkpoint and re-emits the same records.
				return err
			}
		}
		if w.sinceCP >= cfg.CheckpointEvery || (w.sinceCP > 0 && time.Since(w.lastCP) >= cfg.CheckpointInterval) {
			if err := w.checkpoint(ctx); err != nil {
				if ctx.Err() == nil {
					loopErr = err
				}
				break
			}
		}
	}
	if loopErr != nil {
		return loopErr
	}
	// The generation ended (rebalance) or the replica is stopping. Every
	// processed message's outputs are acknowledged, so leave a checkpoint
	// for the next owner; a fresh context because ctx is already done.
	final, cancelFinal := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFinal()
	if shutdown.Err() != nil && cfg.FlushOnShutdown && w.part != nil {
		w.part.Engine.Flush(w.emit)
		w.sinceCP++ // the flush marks windows emitted: checkpoint that state
	}
	if err := w.flushOutputs(final); err != nil {
		return err
	}
	if w.sinceCP > 0 {
		return w.checkpoint(final)
	}
	return nil
}

func (w *worker) restore(ctx context.Context) error {
	cfg := w.p.cfg
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cp, err := w.p.state.Load(lctx, cfg.Group, cfg.Topics.Raw, w.partition)
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
	w.counters = make(map[pipeline.Outcome]prometheus.Counter)
	w.part = &pipeline.Partition{Engine: eng, Limits: cfg.Limits, Now: cfg.Now}
	slog.Info("partition restored", "partition", w.partition, "next_offset", w.next, "from_checkpoint", cp != nil, "open_windows", eng.OpenWindows())
	return nil
}

// fetch waits up to half a second for the first message, then drains what
// the reader has buffered, up to MaxBatch.
func (w *worker) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	first, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	m, err := r.FetchMessage(first)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, fmt.Errorf("partition %d: fetch: %w", w.partition, err)
	}
	batch := []kafka.Message{m}
	drain, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
	defer cancel()
	for len(batch) < w.p.cfg.MaxBatch {
		m, err := r.FetchMessage(drain)
		if err != nil {
			break
		}
		batch = append(batch, m)
	}
	// The Reader returns empty keys and values as nil: dead letters keep them exact.
	if err := kafkaio.RestoreEmpty(ctx, w.p.cfg.Brokers, batch); err != nil {
		return nil, fmt.Errorf("partition %d: %w", w.partition, err)
	}
	return batch, nil
}

func (w *worker) process(batch []kafka.Message, label string) {
	cfg := w.p.cfg
	var msg pipeline.Message
	for i := range batch {
		m := &batch[i]
		msg = pipeline.Message{
			Topic: m.Topic, Partition: w.partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
			RefMs: m.Time.UnixMilli(), ReplayCount: deadletter.ReplayCount(m.Headers), Headers: m.Headers,
		}
		outcome := w.part.Process(&msg, w.emit, w.dead)
		c, ok := w.counters[outcome]
		if !ok {
			c = cfg.Metrics.Messages.WithLabelValues(string(outcome))
			w.counters[outcome] = c
		}
		c.Inc()
	}
	last := &batch[len(batch)-1]
	w.next = last.Offset + 1
	w.sinceCP += len(batch)
	if wm, ok := w.part.Engine.Watermark(); ok {
		cfg.Metrics.Watermark.WithLabelValues(label).Set(float64(wm) / 1000)
		cfg.Metrics.WatermarkLag.WithLabelValues(label).Set(float64(cfg.Now().UnixMilli()-wm) / 1000)
	}
	if last.HighWaterMark > 0 {
		cfg.Metrics.ConsumerLag.WithLabelValues(label).Set(float64(last.HighWaterMark - w.next))
	}
	cfg.Metrics.OpenWindows.WithLabelValues(label).Set(float64(w.part.Engine.OpenWindows()))
}

func (w *worker) emit(r *aggregate.View) {
	b := r.AppendJSON(nil)
	kind := "revision"
	if r.Revision == 1 {
		kind = "first"
	}
	w.p.cfg.Metrics.Emissions.WithLabelValues(kind).Inc()
	w.aggOut = append(w.aggOut, kafka.Message{Key: r.AppendKey(nil), Value: b})
}

func (w *worker) dead(l *deadletter.Letter) {
	w.dlqOut = append(w.dlqOut, l.Message())
}

// flushOutputs writes pending aggregates and dead letters and returns once
// the brokers acknowledged all of them.
func (w *worker) flushOutputs(ctx context.Context) error {
	if w.outputErr != nil {
		return w.outputErr
	}
	errc := make(chan error, 2)
	write := func(wr *kafka.Writer, msgs []kafka.Message) {
		if len(msgs) == 0 {
			errc <- nil
			return
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			errc <- fmt.Errorf("partition %d: write %d records to %s: %w", w.partition, len(msgs), wr.Topic, err)
			return
		}
		errc <- nil
	}
	go write(w.p.agg, w.aggOut)
	go write(w.p.dlq, w.dlqOut)
	if err := errors.Join(<-errc, <-errc); err != nil {
		// Keep everything: a retry rewrites what may already be written,
		// which downstream deduplicates (same window, partition, revision
		// means the same record; dead letters by source coordinates).
		return err
	}
	w.aggOut, w.dlqOut = w.aggOut[:0], w.dlqOut[:0]
	return nil
}

// checkpoint saves the engine state with the next input offset, then
// commits that offset to the group (for lag monitoring and tooling; recovery
// reads the checkpoint, not the committed offset).
func (w *worker) checkpoint(ctx context.Context) error {
	cfg := w.p.cfg
	if w.next < 0 {
		return nil
	}
	start := time.Now()
	snap, err := w.part.Engine.Snapshot()
	if err != nil {
		return err
	}
	cp := &checkpoint.Checkpoint{Version: checkpoint.Version, Group: cfg.Group, Topic: cfg.Topics.Raw, Partition: w.partition,
		NextOffset: w.next, WrittenAt: cfg.Now().UTC(), Engine: snap}
	if err := w.p.state.Save(ctx, cp); err != nil {
		cfg.Metrics.Checkpoint.WithLabelValues("error").Observe(time.Since(start).Seconds())
		return err
	}
	cfg.Metrics.CheckpointLen.Set(float64(len(snap)))
	if err := w.gen.CommitOffsets(map[string]map[int]int64{cfg.Topics.Raw: {int(w.partition): w.next}}); err != nil {
		// After a rebalance the generation is gone and the commit is refused;
		// the checkpoint above is what the next owner restores from.
		slog.Debug("commit offsets", "partition", w.partition, "err", err)
	}
	cfg.Metrics.Checkpoint.WithLabelValues("ok").Observe(time.Since(start).Seconds())
	w.sinceCP = 0
	w.lastCP = time.Now()
	return nil
}
