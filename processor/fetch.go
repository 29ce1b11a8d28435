package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/retry"
)

// fetchMaxBytes bounds one fetch response. A broker still returns a whole
// record batch larger than this (the raw topic may allow bigger records).
const fetchMaxBytes = 4 << 20

// input is one decoded fetch: up to MaxBatch records of one partition, in
// offset order. Keys and values live in arena and are reused once the
// worker hands the input back; whatever outlives processing (a dead
// letter's key and value) is copied out.
type input struct {
	msgs  []pipeline.Message
	arena []byte
	end   int64 // the partition's end offset (high watermark) at the fetch
}

func (in *input) reset() {
	clear(in.msgs) // drop references to headers
	in.msgs, in.arena = in.msgs[:0], in.arena[:0]
	if cap(in.arena) > 8<<20 {
		in.arena = make([]byte, 0, 64<<10) // one huge record should not pin its size forever
	}
}

// fetcher reads one partition ahead of the worker with kafka-go's
// protocol-level Fetch, decoding straight into reused buffers: no message
// struct and two allocations per record as with kafka-go's Reader, and a
// Kafka null stays nil while an empty key or value stays empty (the Reader
// returns both as nil).
type fetcher struct {
	w         *worker
	client    *kafka.Client
	transport *kafka.Transport
	next      int64 // the offset to fetch next; kafka.FirstOffset for the partition's start
	ready     chan *input
	free      chan *input
	done      chan struct{}
	err       error // why the fetcher stopped, when it did on its own
}

// fetchAhead is how many decoded inputs may wait for the worker.
const fetchAhead = 2

func newFetcher(ctx context.Context, w *worker, from int64) *fetcher {
	f := &fetcher{w: w, next: from, ready: make(chan *input, fetchAhead), free: make(chan *input, fetchAhead+1), done: make(chan struct{}),
		// A transport of its own: a long poll must never queue behind (or
		// hold up) the outputs' produce requests.
		transport: &kafka.Transport{}}
	f.client = &kafka.Client{Addr: kafka.TCP(w.p.cfg.Brokers...), Timeout: 30 * time.Second, Transport: f.transport}
	for range fetchAhead + 1 {
		f.free <- &input{arena: make([]byte, 0, 64<<10)}
	}
	if f.next < 0 {
		f.next = kafka.FirstOffset
	}
	go f.run(ctx)
	return f
}

// get returns the next decoded input, waiting up to wait; nil when none
// came. It fails only when the fetcher stopped on a permanent error.
func (f *fetcher) get(ctx context.Context, wait time.Duration) (*input, error) {
	select {
	case in := <-f.ready:
		return in, nil
	default:
	}
	start := time.Now()
	defer func() { f.w.times[activityFetchWait] += time.Since(start) }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case in := <-f.ready:
		return in, nil
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return nil, ctx.Err()
	case <-ctx.Done():
		return nil, nil
	case <-timer.C:
		return nil, nil
	}
}

// put hands an input back for reuse.
func (f *fetcher) put(in *input) {
	in.reset()
	f.free <- in
}

// stop waits for the fetcher to end (its context must be done) and closes
// its connections.
func (f *fetcher) stop() {
	<-f.done
	f.transport.CloseIdleConnections()
}

func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		var in *input
		select {
		case in = <-f.free:
		case <-ctx.Done():
			return
		}
		if err := f.fill(ctx, in); err != nil {
			if ctx.Err() == nil {
				f.err = err
			}
			return
		}
		if len(in.msgs) == 0 {
			f.free <- in
			continue
		}
		select {
		case f.ready <- in:
		case <-ctx.Done():
			return
		}
	}
}

// fill fetches from f.next until in holds at least one record (or the
// context ends), retrying transient errors for as long as the worker runs.
func (f *fetcher) fill(ctx context.Context, in *input) error {
	cfg := f.w.p.cfg
	what := "fetch from " + cfg.Topics.Raw
	resp, err := retry.Do(ctx, f.w.runPolicy(), f.w.log, what, kafkaio.Transient, func(ctx context.Context) (*kafka.FetchResponse, error) {
		resp, err := f.client.Fetch(ctx, &kafka.FetchRequest{Topic: cfg.Topics.Raw, Partition: int(f.w.partition), Offset: f.next,
			MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: 250 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		if errors.Is(resp.Error, kafka.OffsetOutOfRange) && resp.LogStartOffset > f.next && f.next >= 0 {
			// Retention deleted what the checkpoint resumes from: say
			// what is lost rather than skip it silently (as kafka-go's
			// Reader does), and go on from what is left.
			f.w.log.Error("raw records were deleted before they were processed; they are lost",
				"from_offset", f.next, "to_offset", resp.LogStartOffset, "messages", resp.LogStartOffset-f.next)
			f.next = resp.LogStartOffset
			return nil, nil // fetch again from there
		}
		return resp, resp.Error
	})
	if err != nil || resp == nil {
		return err
	}
	in.end = resp.HighWatermark
	for len(in.msgs) < cfg.MaxBatch {
		r, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("decode records of %s/%d at offset %d: %w", cfg.Topics.Raw, f.w.partition, f.next, err)
		}
		if r.Offset < f.next {
			continue // a batch starts before the offset asked for
		}
		m := pipeline.Message{Topic: cfg.Topics.Raw, Partition: f.w.partition, Offset: r.Offset, RefMs: r.Time.UnixMilli()}
		if m.Key, err = in.read(r.Key); err == nil {
			m.Value, err = in.read(r.Value)
		}
		if err != nil {
			return fmt.Errorf("read record %s/%d@%d: %w", cfg.Topics.Raw, f.w.partition, r.Offset, err)
		}
		if len(r.Headers) > 0 {
			// The decoder may reuse its header slice: keep a copy.
			m.Headers = append([]deadletter.Header(nil), r.Headers...)
			m.ReplayCount = deadletter.ReplayCount(m.Headers)
		}
		in.msgs = append(in.msgs, m)
		f.next = r.Offset + 1
	}
	return nil
}

// read copies b into the arena: nil for a Kafka null, a non-nil empty
// slice for an empty byte string.
func (in *input) read(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close() // gives the response's pages back to kafka-go's pool
	n := b.Len()
	start := len(in.arena)
	if cap(in.arena)-start < n {
		// Earlier records keep the old array; only new ones use the new.
		in.arena = make([]byte, 0, max(2*cap(in.arena), n+64<<10))
		start = 0
	}
	in.arena = in.arena[:start+n]
	if _, err := io.ReadFull(b, in.arena[start:start+n]); err != nil {
		return nil, err
	}
	return in.arena[start : start+n : start+n], nil
}
