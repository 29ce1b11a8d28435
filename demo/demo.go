// Package demo runs the whole pipeline in one process with an embedded
// Kafka (franz-go's kfake serving kafka-go over loopback): producer,
// processor and dispatcher exactly as in docker-compose, plus a live view
// that fits 80 columns, fed from the output topics and the processor's
// metrics. No network, no Docker.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamlab/streamlab/dispatcher"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

// run is one demo run: the embedded cluster's address, the roles' shared
// metrics registry, the view and what feeds it.
type run struct {
	cfg          Config
	brokers      []string
	topics       topic.Names
	partitions   map[string]int // per topic, as created
	reg          *prometheus.Registry
	view         *view
	watch        *watcher
	bursts       *burstWriter
	chaosWritten atomic.Int64
	failed       chan error // a role that stops on its own ends the run
	drawn        bool       // a terminal frame is on screen
}

// Run runs the demo until the duration passes, ctx ends, q is typed or a
// role fails; then it drains (see drain), draws the last frame and writes
// the summary. The error is a role's failure, a drain step that did not
// finish, or G1 not adding up on the output topics.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka: %w", err)
	}
	defer cluster.Close()
	r := &run{cfg: cfg, brokers: cluster.ListenAddrs(), topics: topic.Defaults(), reg: prometheus.NewRegistry(),
		failed: make(chan error, 8)}
	if err := r.createTopics(ctx); err != nil {
		return nil, err
	}
	r.view = newView(cfg.Window, cfg.Partitions, r.topics, cfg.Keys != nil, time.Now())
	r.watch = newWatcher(r.brokers, r.view)
	return r.run(ctx)
}

func (r *run) createTopics(ctx context.Context) error {
	t := r.topics
	if _, err := kafkaio.CreateTopics(ctx, r.brokers, topic.Specs(t, r.cfg.Partitions, 24*time.Hour)); err != nil {
		return err
	}
	counts, err := kafkaio.PartitionCounts(ctx, r.brokers, t.Raw, t.Agg, t.DLQ, t.Alerts)
	if err != nil {
		return err
	}
	r.partitions = counts
	return nil
}

func (r *run) run(ctx context.Context) (*Summary, error) {
	began := time.Now()
	// Ctrl-C, the duration and q end the live phase only; the roles and
	// the view's readers are stopped one by one by the drain.
	roles := context.WithoutCancel(ctx)
	watchCtx, stopWatch := context.WithCancel(roles)
	defer stopWatch()
	r.watch.watchTopics(watchCtx, r.topics.Agg, r.topics.DLQ, r.topics.Alerts, r.partitions)

	proc, err := r.startProcessor(roles)
	if err != nil {
		return nil, err
	}
	disp := r.startDispatcher(roles)
	prod := r.startProducer(roles)
	quit := make(chan struct{})
	var once sync.Once
	bursts := r.startBursts(roles, began, func() { once.Do(func() { close(quit) }) })

	liveErr := r.live(ctx, quit)
	drainErr := r.drain(ctx, liveErr != nil, prod, bursts, disp, proc)
	stopWatch()
	r.watch.wait()
	r.refresh(roles)

	sum, err := r.summary(roles, time.Since(began))
	if err != nil {
		return nil, errors.Join(liveErr, drainErr, err)
	}
	sum.write(r.cfg.Out, r.topics)
	errs := []error{liveErr, drainErr}
	if liveErr == nil && drainErr == nil && !sum.G1Holds() {
		errs = append(errs, fmt.Errorf("G1 does not add up on the output topics: produced %d, counted %d + duplicates %d + dead letters %d",
			sum.Produced, sum.Counted, sum.Duplicates, sum.DeadLetters))
	}
	return sum, errors.Join(errs...)
}

// live draws a frame every Refresh (and at once after a chaos
// acknowledgement) until the duration passes, ctx ends, q is typed or a
// role fails.
func (r *run) live(ctx context.Context, quit <-chan struct{}) error {
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
	}
	tick := time.NewTicker(r.cfg.Refresh)
	defer tick.Stop()
	r.refresh(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-quit:
			return nil
		case err := <-r.failed:
			return err
		case <-tick.C:
			r.refresh(ctx)
		case <-r.view.redraw:
			r.refresh(ctx)
		}
	}
}

// drain ends the run so that the last frame and the summary are complete:
//  1. the producer and the chaos writer stop (a write in flight finishes);
//  2. the processor catches up: its group has committed the raw topic's end
//     offsets, so every produced message is decided and its outputs acked;
//  3. the dispatcher stops before the flush below, whose windows are partial
//     and would only raise false revenue alerts;
//  4. the processor stops: its shutdown flush publishes every window not yet
//     emitted, acknowledged before its Run returns;
//  5. the view reads every output topic to its end.
//
// After a role failed there is nothing to wait for: everything just stops.
func (r *run) drain(ctx context.Context, failed bool, prod, bursts, disp, proc *service) error {
	ctx = context.WithoutCancel(ctx)
	began := time.Now()
	step := func(what string, err error) error {
		if err != nil {
			r.cfg.Logger.Warn("demo drain: "+what+" failed", "elapsed", time.Since(began).Round(time.Millisecond), "err", err)
		} else {
			r.cfg.Logger.Info("demo drain: "+what, "elapsed", time.Since(began).Round(time.Millisecond))
		}
		return err
	}
	errs := []error{prod.stop(), bursts.stop()}
	if failed {
		return errors.Join(append(errs, disp.stop(), proc.stop())...)
	}
	errs = append(errs, step("the processor committed every produced offset",
		waitFor(ctx, r.cfg.DrainTimeout, "the processor to commit every produced offset", r.processorCaughtUp)))
	errs = append(errs, disp.stop(), step("the processor flushed and stopped", proc.stop()))
	r.view.setFlushed()
	errs = append(errs, step("the view read every output record", waitFor(ctx, r.cfg.DrainTimeout, "the view to read every output record",
		func(ctx context.Context) (bool, string, error) {
			return r.watch.caughtUp(ctx, r.topics.Agg, r.topics.DLQ, r.topics.Alerts)
		})))
	return errors.Join(errs...)
}

func (r *run) processorCaughtUp(ctx context.Context) (bool, string, error) {
	n := r.partitions[r.topics.Raw]
	ends, err := kafkaio.EndOffsets(ctx, r.brokers, r.topics.Raw, n)
	if err != nil {
		return false, "", err
	}
	committed, err := kafkaio.CommittedOffsets(ctx, r.brokers, processorGroup, r.topics.Raw, n)
	if err != nil {
		return false, "", err
	}
	var behind int64
	for p, end := range ends {
		behind += max(0, end-max(0, committed[p]))
	}
	return behind == 0, fmt.Sprintf("%d messages not committed", behind), nil
}

// produced is the number of records on the raw topic: its end offsets, summed.
func (r *run) produced(ctx context.Context) (int64, error) {
	ends, err := kafkaio.EndOffsets(ctx, r.brokers, r.topics.Raw, r.partitions[r.topics.Raw])
	var n int64
	for _, end := range ends {
		n += end
	}
	return n, err
}

// refresh samples the processor and the raw topic, then draws a frame.
func (r *run) refresh(ctx context.Context) {
	r.view.setSample(r.sample(ctx))
	r.draw(r.view.frame(time.Now()).render())
}

// sample reads the processor's counters before the raw topic's end offsets:
// a message is decided only after it is on the topic, so in this order
// decided <= produced, and the difference is what is in flight.
func (r *run) sample(ctx context.Context) sample {
	s := sample{at: time.Now(), outcomes: map[string]int64{}, watermarks: map[int32]int64{}}
	outcomes, err := gather(r.reg, "streamlab_processor_messages_total", "outcome")
	if err == nil {
		for o, n := range outcomes {
			s.outcomes[o] = int64(n)
		}
	}
	if wms, err := gather(r.reg, "streamlab_processor_watermark_seconds", "partition"); err == nil {
		for p, sec := range wms {
			if n, err := strconv.Atoi(p); err == nil {
				s.watermarks[int32(n)] = int64(math.Round(sec * 1000))
			}
		}
	}
	if verdicts, err := gather(r.reg, dispatcher.MetricVerdicts, "rule"); err == nil {
		s.verdicts = int64(verdicts[rules.DLQSpike])
	}
	// Not cut short by the end of the live phase: a frame drawn then would
	// show a cancelled read instead of the numbers.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	s.produced, s.err = r.produced(ctx)
	return s
}

// draw writes a frame: in a terminal over the previous one (cursor home,
// each line cleared to its end, the rest of the screen cleared, so nothing
// flickers and stray log lines are overwritten), otherwise after it.
func (r *run) draw(frame string) {
	if !r.cfg.Terminal {
		io.WriteString(r.cfg.Out, frame+"\n")
		return
	}
	var b strings.Builder
	if !r.drawn {
		b.WriteString("\x1b[H\x1b[2J")
		r.drawn = true
	}
	b.WriteString("\x1b[H")
	b.WriteString(strings.ReplaceAll(frame, "\n", "\x1b[K\n"))
	b.WriteString("\x1b[J")
	io.WriteString(r.cfg.Out, b.String())
}
