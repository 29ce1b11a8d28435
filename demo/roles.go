package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamlab/streamlab/chaos"
	"github.com/streamlab/streamlab/dispatcher"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/window"
	"github.com/streamlab/streamlab/processor"
	"github.com/streamlab/streamlab/producer"
)

// processorGroup is the demo processor's consumer group (processor's default).
const processorGroup = "streamlab-processor"

// service is one role running in its own goroutine until stopped.
type service struct {
	name     string
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
	reported bool // err went to failed: stop does not return it a second time
}

// start runs fn until stop; an error it returns before that is also sent
// to failed, which ends the run.
func start(parent context.Context, name string, failed chan<- error, fn func(context.Context) error) *service {
	ctx, cancel := context.WithCancel(parent)
	s := &service{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.err = fmt.Errorf("%s: %w", name, err)
			if ctx.Err() == nil {
				select {
				case failed <- s.err:
					s.reported = true
				default:
				}
			}
		}
	}()
	return s
}

// stop cancels the service, waits for it to return and returns its error
// unless the run already ended with it.
func (s *service) stop() error {
	s.cancel()
	<-s.done
	if s.reported {
		return nil
	}
	return s.err
}

func (r *run) startProcessor(ctx context.Context) (*service, error) {
	pcfg := processor.DefaultConfig()
	pcfg.Brokers, pcfg.Topics, pcfg.Group, pcfg.Window, pcfg.Limits = r.brokers, r.topics, processorGroup, r.cfg.Window, r.cfg.Limits
	pcfg.CheckpointInterval, pcfg.SessionTimeout, pcfg.Metrics = time.Second, 6*time.Second, processor.NewMetrics(r.reg)
	pcfg.Logger = r.cfg.Logger.With("role", "processor")
	proc, err := processor.New(pcfg)
	if err != nil {
		return nil, err
	}
	return start(ctx, "processor", r.failed, proc.Run), nil
}

func (r *run) startDispatcher(ctx context.Context) *service {
	d := dispatcher.DefaultConfig()
	d.Brokers = r.brokers
	d.AggregatesTopic, d.DLQTopic, d.AlertsTopic = r.topics.Agg, r.topics.DLQ, r.topics.Alerts
	d.LagGroup, d.LagTopic = processorGroup, r.topics.Raw
	d.WebhookURL, d.DiscordAPIBase = r.cfg.WebhookURL, r.cfg.APIBase
	d.Registry = r.reg
	d.EvalInterval = time.Second
	d.Cooldown = time.Minute
	d.Logger = r.cfg.Logger
	d.Rules = demoRules(r.cfg.Window)
	return start(ctx, "dispatcher", r.failed, func(ctx context.Context) error { return dispatcher.Run(ctx, d) })
}

// demoRules scale the alert rules to the demo's short windows so that a
// chaos burst raises an alert within seconds.
func demoRules(w window.Config) rules.Config {
	r := dispatcher.DefaultConfig().Rules
	size := time.Duration(w.SizeMs) * time.Millisecond
	r.WindowSize = size
	r.SettleDelay = size
	r.DLQBucket = 2 * time.Second
	r.DLQSpikeFloor = 20
	r.BaselineWindows = 6
	r.WarmupBuckets = 1 // a burst seconds after the start is judged against what came before it
	r.RevenueMinHistory = 3
	r.LateFloor = 20
	return r
}

// genConfig is the generator both the producer and the chaos bursts drive:
// the processor's window settings, starting at the wall clock.
func (r *run) genConfig() gen.Config {
	g := gen.DefaultConfig()
	g.Seed = r.cfg.Seed
	g.Start = time.Now().UTC()
	g.Window = time.Duration(r.cfg.Window.SizeMs) * time.Millisecond
	g.OutOfOrderness = time.Duration(r.cfg.Window.OutOfOrdernessMs) * time.Millisecond
	g.AllowedLateness = time.Duration(r.cfg.Window.AllowedLatenessMs) * time.Millisecond
	g.MaxEventBytes = r.cfg.Limits.MaxEventBytes
	return g
}

func (r *run) startProducer(ctx context.Context) *service {
	// Progress logs would only interleave with the view: the view shows it.
	cfg := producer.Config{Brokers: r.brokers, Topic: r.topics.Raw, Gen: r.genConfig(), Rate: r.cfg.Rate,
		Progress: time.Hour, Metrics: producer.NewMetrics(r.reg), Logger: r.cfg.Logger.With("role", "producer")}
	return start(ctx, "producer", r.failed, func(ctx context.Context) error {
		_, err := producer.Run(ctx, cfg)
		return err
	})
}

// startBursts starts the chaos writer, the schedule and the keyboard.
func (r *run) startBursts(ctx context.Context, began time.Time, quit func()) *service {
	g := r.genConfig()
	r.bursts = &burstWriter{queue: make(chan burstRequest, 16), view: r.view,
		write: func(ctx context.Context, b Burst, seed uint64) (int64, error) {
			n, err := chaos.Run(ctx, chaos.Config{Brokers: r.brokers, Topic: r.topics.Raw, Kind: b.Kind, Count: b.Count,
				Seed: r.cfg.Seed + seed, Window: g.Window, OutOfOrderness: g.OutOfOrderness,
				AllowedLateness: g.AllowedLateness, MaxEventBytes: g.MaxEventBytes, Logger: r.cfg.Logger.With("role", "chaos")})
			r.chaosWritten.Add(n)
			return n, err
		}}
	s := start(ctx, "chaos", r.failed, func(ctx context.Context) error {
		go r.bursts.schedule(ctx, began, r.cfg.Chaos)
		return r.bursts.run(ctx)
	})
	if r.cfg.Keys != nil {
		go readKeys(r.cfg.Keys, r.bursts, quit)
	}
	return s
}

// gather reads one metric family from the registry, summed by one label.
func gather(reg prometheus.Gatherer, name, label string) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelValue(m, label)] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out, nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
