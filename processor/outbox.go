package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// batch is what one processed batch of input hands to the outbox: its
// outputs, and possibly a checkpoint taken after it. Batches are recycled
// once their outputs are acknowledged, buffers and all.
type batch struct {
	agg, dlq []kafka.Message
	arena    []byte // backing store of agg keys and values
	// cp, if set, is saved after agg and dlq are acknowledged, and so
	// covers them (and every earlier batch).
	cp      *Checkpoint
	cpBuilt time.Duration // time the worker spent building cp
	// cpFirst saves cp before writing agg, which then equals cp.Pending:
	// the batch of a shutdown flush, whose revisions must never reach the
	// topic without the checkpoint that knows them.
	cpFirst bool
}

func (b *batch) empty() bool { return len(b.agg) == 0 && len(b.dlq) == 0 && b.cp == nil }

func (b *batch) reset() {
	clear(b.agg) // drop references to the input buffers
	clear(b.dlq)
	b.agg, b.dlq, b.arena = b.agg[:0], b.dlq[:0], b.arena[:0]
	b.cp, b.cpBuilt, b.cpFirst = nil, 0, false
}

// outbox writes one partition's outputs and checkpoints in order on its own
// goroutine, so that the worker processes the next batch while the brokers
// acknowledge the last one. A checkpoint is saved only once every output
// before it is acknowledged, and the group offset committed after it.
type outbox struct {
	w     *worker
	queue chan *batch   // to write, in order
	free  chan *batch   // written, for reuse
	dead  chan struct{} // closed when a write failed for good; err says why
	done  chan struct{} // closed when run returns
	err   error

	// ctx outlives the generation: outputs of processed input are written
	// even when a rebalance or shutdown has begun (drain bounds it).
	ctx    context.Context
	cancel context.CancelFunc

	aggs, dlqs []kafka.Message // scratch for groups of batches
}

// drainTimeout bounds the writing of what is queued once the worker stops.
const drainTimeout = 30 * time.Second

func newOutbox(w *worker, depth int) *outbox {
	o := &outbox{w: w, queue: make(chan *batch, depth), free: make(chan *batch, depth+1), dead: make(chan struct{}), done: make(chan struct{})}
	for range depth + 1 {
		o.free <- &batch{}
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	go o.run()
	return o
}

// next returns an empty batch, waiting while every batch is in flight.
func (o *outbox) next() (*batch, error) {
	select {
	case b := <-o.free:
		return b, nil
	default:
	}
	start := time.Now()
	defer func() { o.w.times[activityOutputWait] += time.Since(start) }()
	select {
	case b := <-o.free:
		return b, nil
	case <-o.dead:
		return nil, o.err
	}
}

// send queues a batch; the queue has room for every batch there is.
func (o *outbox) send(b *batch) { o.queue <- b }

// failed reports the outbox's error once it has stopped on one.
func (o *outbox) failed() error {
	select {
	case <-o.dead:
		return o.err
	default:
		return nil
	}
}

// close lets the outbox write what is queued, up to drainTimeout, and
// returns its error.
func (o *outbox) close() error {
	close(o.queue)
	timer := time.AfterFunc(drainTimeout, o.cancel)
	defer timer.Stop()
	<-o.done
	o.cancel()
	return o.err
}

// abort stops the outbox without writing what is queued.
func (o *outbox) abort() {
	o.cancel()
	close(o.queue)
	<-o.done
}

func (o *outbox) run() {
	defer close(o.done)
	var group []*batch
	for b := range o.queue {
		// Write every queued batch up to the first checkpoint in one go:
		// fewer, larger produce requests.
		group = append(group[:0], b)
		for b.cp == nil && len(o.queue) > 0 {
			b = <-o.queue
			group = append(group, b)
		}
		if err := o.write(group); err != nil {
			o.err = err
			close(o.dead)
			o.cancel()
			for range o.queue { // until the worker closes it
			}
			return
		}
		for _, g := range group {
			g.reset()
			o.free <- g
		}
	}
}

// write writes a group of batches of which only the last may carry a
// checkpoint.
func (o *outbox) write(group []*batch) error {
	last := group[len(group)-1]
	if last.cp != nil && last.cpFirst {
		if err := o.writeOutputs(group[:len(group)-1]); err != nil {
			return err
		}
		if err := o.save(last); err != nil {
			return err
		}
		return o.writeOutputs(group[len(group)-1:])
	}
	if err := o.writeOutputs(group); err != nil {
		return err
	}
	if last.cp != nil {
		return o.save(last)
	}
	return nil
}

// writeOutputs writes the aggregates and dead letters of batches and
// returns once the brokers acknowledged all of them. Transient failures are
// retried for as long as the outbox runs; a retry rewrites what may already
// be written, which downstream deduplicates (same window, partition,
// revision means the same record; dead letters by source coordinates).
func (o *outbox) writeOutputs(batches []*batch) error {
	if len(batches) == 0 {
		return nil
	}
	agg, dlq := batches[0].agg, batches[0].dlq
	if len(batches) > 1 {
		o.aggs, o.dlqs = o.aggs[:0], o.dlqs[:0]
		for _, b := range batches {
			o.aggs = append(o.aggs, b.agg...)
			o.dlqs = append(o.dlqs, b.dlq...)
		}
		agg, dlq = o.aggs, o.dlqs
		defer func() { clear(o.aggs); clear(o.dlqs) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- o.produce(o.w.p.dlq, dlq) }()
	return errors.Join(o.produce(o.w.p.agg, agg), <-errc)
}

func (o *outbox) produce(wr *kafka.Writer, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	what := "write to " + wr.Topic
	_, err := retry.Do(o.ctx, o.w.runPolicy(), o.w.log, what, kafkaio.Transient, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, wr.WriteMessages(ctx, msgs...)
	})
	if err != nil {
		return fmt.Errorf("%d records: %w", len(msgs), err)
	}
	return nil
}

// save saves b's checkpoint, then commits its offset to the group (for lag
// monitoring and tooling; recovery reads the checkpoint, never the
// committed offset).
func (o *outbox) save(b *batch) error {
	w := o.w
	m := w.p.cfg.Metrics
	start := time.Now()
	n, err := retry.Do(o.ctx, w.runPolicy(), w.log, "save checkpoint to "+w.p.cfg.Topics.State, kafkaio.Transient, func(ctx context.Context) (int, error) {
		return w.p.store.Save(ctx, b.cp)
	})
	took := time.Since(start) + b.cpBuilt
	if err != nil {
		m.Checkpoint.WithLabelValues("error").Observe(took.Seconds())
		return err
	}
	if err := w.gen.CommitOffsets(map[string]map[int]int64{w.p.cfg.Topics.Raw: {int(w.partition): b.cp.NextOffset}}); err != nil {
		// After a rebalance the generation is gone and the commit is
		// refused; the checkpoint above is what the next owner restores.
		w.log.Debug("commit offsets", "err", err)
	}
	m.Checkpoint.WithLabelValues("ok").Observe((time.Since(start) + b.cpBuilt).Seconds())
	m.CheckpointLen.WithLabelValues(w.label).Set(float64(n))
	w.stats.update(func(s *partState) { s.lastCP, s.committed = time.Now(), b.cp.NextOffset })
	return nil
}
