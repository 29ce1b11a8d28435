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
	"github.com/streamlab/streamlab/internal/event"
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
	flushed bool                     // a shutdown flush changed the state since the last checkpoint
	saved   map[int64]window.Version // the windows as the last checkpoint wrote them
	// revisions is the last revision of each window held, emitted or
	// restored, by window_start as records print it.
	revisions map[string]int64

	out     *outbox
	cur     *batch         // the batch being filled
	src     *kafka.Message // the record being processed
	inexact []inexact      // this batch's dead letters to re-read exactly
	emitErr error          // the first emission that could not be encoded
	msg     pipeline.Message
	msgs    []kafka.Message          // the fetched batch, reused
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
	reader := w.openReader()
	defer reader.Close()
	w.out = newOutbox(w, w.p.cfg.MaxInFlight)
	var err error
	if w.cur, err = w.out.next(); err != nil {
		w.out.abort()
		return err
	}
	if err := w.loop(ctx, reader); err != nil {
		w.out.abort()
		return err
	}
	return w.finish(parent.Err() != nil && w.p.cfg.FlushOnShutdown)
}

// loop fetches and processes until ctx ends.
func (w *worker) loop(ctx context.Context, reader *kafka.Reader) error {
	var fetchErr string
	for ctx.Err() == nil {
		if err := w.out.failed(); err != nil {
			return err
		}
		msgs, err := w.fetch(ctx, reader)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && !kafkaio.Transient(err):
			return fmt.Errorf("fetch: %w", err)
		case err != nil:
			// kafka-go's reader retries on its own; say so once.
			if err.Error() != fetchErr {
				fetchErr = err.Error()
				w.log.Warn("fetch failed; the reader keeps retrying", "err", err)
			}
			continue
		case fetchErr != "":
			w.log.Info("fetching again")
			fetchErr = ""
		}
		if len(msgs) > 0 {
			if err := w.process(ctx, msgs); err != nil {
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
		w.part.Flush(w.emit)
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
	what := "load the state from " + cfg.Topics.State
	start := time.Now()
	st, err := retry.Do(ctx, w.runPolicy(), w.log, what, kafkaio.Transient, func(ctx context.Context) (*State, error) {
		return w.p.store.Load(ctx, w.partition, int32(w.gen.ID))
	})
	if err != nil {
		return err
	}
	var eng *window.Engine
	if st == nil {
		eng, err = window.New(cfg.Window, w.partition)
		w.next = -1
		cfg.Metrics.Restores.WithLabelValues("empty").Inc()
	} else {
		eng, err = window.RestoreParts(cfg.Window, w.partition, st.Engine, st.Windows...)
		w.next = st.NextOffset
		cfg.Metrics.Restores.WithLabelValues("checkpoint").Inc()
	}
	if err != nil {
		return err
	}
	if st != nil && len(st.Pending) > 0 {
		if err := w.writePending(ctx, st.Pending); err != nil {
			return err
		}
	}
	// Nothing is known to be saved under this owner: the first checkpoint
	// writes every window (see Store.Load).
	w.saved = map[int64]window.Version{}
	w.revisions = map[string]int64{}
	eng.Versions(func(start int64, v window.Version) { w.revisions[event.FormatMillis(start)] = v.Revision })
	w.part = &pipeline.Partition{Engine: eng, Limits: cfg.Limits, Now: cfg.Now, Observer: newObserver(cfg.Metrics, cfg.Observer)}
	w.lastCP = time.Now()
	wm, hasWM := eng.Watermark()
	w.stats.update(func(s *partState) {
		s.next, s.watermark, s.hasWM, s.open, s.lastCP = w.next, wm, hasWM, eng.OpenWindows(), w.lastCP
		s.committed = w.next
	})
	if st == nil {
		w.log.Info("partition started: no checkpoint yet, reading from the first offset", "took", time.Since(start).Round(time.Millisecond))
	} else {
		w.log.Info("partition restored", "next_offset", w.next, "open_windows", eng.OpenWindows(),
			"checkpoint_written_at", st.WrittenAt.Format(time.RFC3339), "took", time.Since(start).Round(time.Millisecond))
	}
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

func (w *worker) openReader() *kafka.Reader {
	cfg := w.p.cfg
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		Topic:          cfg.Topics.Raw,
		Partition:      int(w.partition),
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        kafkaio.FetchMaxWait,
		QueueCapacity:  max(4096, 2*cfg.MaxBatch),
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafkaio.ReaderLog(w.log),
	})
	start := w.next
	if start < 0 {
		start = kafka.FirstOffset
	}
	// SetOffset on a reader without a group only records the offset.
	_ = reader.SetOffset(start)
	return reader
}

// fetch waits up to half a second for the first message (so that idle
// partitions still checkpoint on time), then takes what the reader has
// buffered, up to MaxBatch. Fetching itself runs ahead on the reader's own
// goroutine (QueueCapacity messages), so input, processing (here) and
// output (the outbox) overlap.
func (w *worker) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	start := time.Now()
	first, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	m, err := r.FetchMessage(first)
	cancel()
	w.times[activityFetchWait] += time.Since(start)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, err
	}
	clear(w.msgs)
	w.msgs = append(w.msgs[:0], m)
	// What the reader has buffered comes without waiting.
	for n := min(int(r.Stats().QueueLength), w.p.cfg.MaxBatch-1); n > 0; n-- {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			break
		}
		w.msgs = append(w.msgs, m)
	}
	return w.msgs, nil
}

// gap explains offsets the reader skipped. When retention deleted records
// the checkpoint resumes from, kafka-go's Reader jumps to the first offset
// left without a word: say what is lost. Other gaps (a transactional
// producer's commit markers take offsets too) lose nothing.
func (w *worker) gap(ctx context.Context, to int64) {
	first, _, err := kafkaio.Offsets(ctx, w.p.cfg.Brokers, w.p.cfg.Topics.Raw, int(w.partition))
	switch {
	case err != nil:
		w.log.Warn("offsets skipped; could not read the partition's first offset to say why",
			"from_offset", w.next, "to_offset", to, "err", err)
	case first > w.next:
		w.log.Error("raw records were deleted by retention before they were processed; they are lost",
			"from_offset", w.next, "to_offset", first, "messages", first-w.next)
	default:
		w.log.Debug("offsets skipped (transaction markers or compaction)", "from_offset", w.next, "to_offset", to)
	}
}

// process runs a fetched batch through the pipeline into the current
// output batch.
func (w *worker) process(ctx context.Context, msgs []kafka.Message) error {
	start := time.Now()
	defer func() { w.times[activityProcess] += time.Since(start) }()
	if w.next >= 0 && msgs[0].Offset > w.next {
		w.gap(ctx, msgs[0].Offset)
	}
	for i := range msgs {
		m := &msgs[i]
		w.src = m
		w.msg = pipeline.Message{
			Topic: m.Topic, Partition: w.partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
			RefMs: m.Time.UnixMilli(), ReplayCount: deadletter.ReplayCount(m.Headers), Headers: m.Headers,
		}
		w.part.Process(&w.msg, w.emit, w.dead)
	}
	w.src = nil
	if w.emitErr != nil {
		return w.emitErr
	}
	if err := w.restoreEmpty(ctx); err != nil {
		return err
	}
	last := &msgs[len(msgs)-1]
	w.next = last.Offset + 1
	w.sinceCP += len(msgs)
	w.p.processed.Add(int64(len(msgs)))
	wm, hasWM := w.part.Engine.Watermark()
	open := w.part.Engine.OpenWindows()
	w.stats.update(func(s *partState) {
		s.next, s.watermark, s.hasWM, s.open = w.next, wm, hasWM, open
		if last.HighWaterMark > 0 {
			s.end = last.HighWaterMark
		}
	})
	return nil
}

func (w *worker) emit(r *aggregate.View) {
	// One (window, partition, revision) must only ever have one content:
	// downstream keeps the highest revision and cannot tell two contents
	// of one revision apart. Revisions of a window only grow, from the
	// restored state's on; one that does not is a bug to stop on, not to
	// publish.
	if last, ok := w.revisions[r.WindowStart]; ok && r.Revision <= last {
		if w.emitErr == nil {
			w.emitErr = fmt.Errorf("refusing to emit window %s revision %d: revision %d was already emitted or restored", r.WindowStart, r.Revision, last)
		}
		return
	}
	w.revisions[r.WindowStart] = r.Revision
	// The view is valid during this call only: key and value are encoded
	// into the batch's arena, reused once the batch is acknowledged.
	c := w.cur
	start := len(c.arena)
	c.arena = r.AppendKey(c.arena)
	key := c.arena[start:len(c.arena):len(c.arena)]
	start = len(c.arena)
	c.arena = r.AppendJSON(c.arena)
	c.agg = append(c.agg, kafka.Message{Key: key, Value: c.arena[start:len(c.arena):len(c.arena)]})
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
	w.cur.dlq = append(w.cur.dlq, l.Message())
	if w.src != nil && kafkaio.MayBeEmpty(w.src) {
		w.inexact = append(w.inexact, inexact{dlq: len(w.cur.dlq) - 1, src: *w.src, letter: l})
	}
}

// inexact is a dead letter whose raw record the Reader may have read
// inexactly: it returns an empty key, value or header value as nil, like a
// null.
type inexact struct {
	dlq    int // index in the current batch's dead letters
	src    kafka.Message
	letter *deadletter.Letter
}

// restoreEmpty re-reads the raw records of this batch's inexact dead
// letters (kafkaio.RestoreEmpty) so that an empty key, value or header
// stays empty in the DLQ, never a null. Only dead letters need it: for
// every other record null and empty mean the same, and re-reading costs a
// fetch.
func (w *worker) restoreEmpty(ctx context.Context) error {
	if len(w.inexact) == 0 {
		return nil
	}
	defer func() { clear(w.inexact); w.inexact = w.inexact[:0] }()
	srcs := make([]kafka.Message, len(w.inexact))
	for i, x := range w.inexact {
		srcs[i] = x.src
	}
	if err := kafkaio.RestoreEmpty(ctx, w.p.cfg.Brokers, srcs); err != nil {
		return err
	}
	for i, x := range w.inexact {
		l, m := x.letter, &srcs[i]
		l.Key, l.Value, l.RawHeaders = m.Key, m.Value, deadletter.OwnHeaders(m.Headers)
		w.cur.dlq[x.dlq] = l.Message()
	}
	return nil
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
	start := time.Now()
	eng := w.part.Engine
	cp := &Checkpoint{Partition: w.partition, NextOffset: w.next, WrittenAt: w.p.cfg.Now().UTC(), Engine: eng.AppendMeta(nil)}
	// Only the windows whose state changed since the last checkpoint are
	// encoded and written: the cost follows what changed, not what is held.
	saved := make(map[int64]window.Version, len(w.saved))
	var states []byte
	eng.Versions(func(start int64, v window.Version) {
		saved[start] = v
		cp.Live = append(cp.Live, start)
		if old, ok := w.saved[start]; ok && old == v {
			return
		}
		from := len(states)
		states, _ = eng.AppendWindow(states, start)
		cp.Changed = append(cp.Changed, WindowState{Start: start, State: states[from:len(states):len(states)]})
	})
	w.saved = saved
	if len(w.revisions) > len(saved) {
		for start := range w.revisions {
			if ms, ok := event.ParseTime([]byte(start)); !ok || !hasWindow(saved, ms) {
				delete(w.revisions, start) // the window left the horizon
			}
		}
	}
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

func hasWindow(held map[int64]window.Version, start int64) bool {
	_, ok := held[start]
	return ok
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
