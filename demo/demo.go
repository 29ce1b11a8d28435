// Package demo runs the whole pipeline in one process with an embedded
// Kafka (franz-go's kfake serving kafka-go over loopback): producer,
// processor and dispatcher exactly as in docker-compose, plus a live
// terminal view fed from the output topics. No network, no Docker.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamlab/streamlab/chaos"
	"github.com/streamlab/streamlab/dispatcher"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
	"github.com/streamlab/streamlab/processor"
	"github.com/streamlab/streamlab/producer"
)

// Burst is one scheduled chaos injection.
type Burst struct {
	At    time.Duration
	Kind  string
	Count int64
}

// ParseSchedule parses "8s:malformed:300,15s:late:200".
func ParseSchedule(s string) ([]Burst, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Burst
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("--chaos %q: want AT:KIND:COUNT entries like 8s:malformed:300", part)
		}
		at, err := time.ParseDuration(f[0])
		if err != nil || at < 0 {
			return nil, fmt.Errorf("--chaos %q: bad time %q", part, f[0])
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--chaos %q: bad count %q", part, f[2])
		}
		known := false
		for _, k := range chaos.Kinds() {
			known = known || k == f[1]
		}
		if !known {
			return nil, fmt.Errorf("--chaos %q: kind %q is not one of %s", part, f[1], strings.Join(chaos.Kinds(), ", "))
		}
		out = append(out, Burst{At: at, Kind: f[1], Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

// Config of a demo run.
type Config struct {
	Duration   time.Duration // 0 = until interrupted
	Rate       float64       // producer messages per second
	Partitions int
	Window     window.Config
	Limits     event.Limits
	Chaos      []Burst
	WebhookURL string // optional Discord webhook (secret)
	APIBase    string // optional Discord API base (a local stand-in)
	Refresh    time.Duration
	Clear      bool // redraw in place (a terminal); otherwise print frames
	Out        io.Writer
	Seed       uint64
	Keys       io.Reader // typed commands (m, l, d, f, o + Enter; q quits); nil for none
}

// keyBursts are the bursts one can type while the demo runs.
var keyBursts = map[string]Burst{
	"m": {Kind: chaos.Malformed, Count: 300},
	"l": {Kind: chaos.Late, Count: 200},
	"d": {Kind: chaos.Duplicate, Count: 200},
	"f": {Kind: chaos.Future, Count: 100},
	"o": {Kind: chaos.Oversized, Count: 20},
}

// Run runs the demo until the duration passes or ctx ends, then prints a
// summary.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Partitions < 1 {
		cfg.Partitions = 3
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	// The view is the output; the services' info logs would scroll it away.
	prevLogger := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer slog.SetDefault(prevLogger)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("start embedded Kafka: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	topics := topic.Defaults()
	if _, err := kafkaio.CreateTopics(ctx, brokers, topic.Specs(topics, cfg.Partitions, 24*time.Hour)); err != nil {
		return err
	}

	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	// Services stop after the view's consumers have seen their last output.
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()

	reg := prometheus.NewRegistry()
	pm := processor.NewMetrics(reg)
	prodm := producer.NewMetrics(reg)
	proc, err := processor.New(processor.Config{Brokers: brokers, Topics: topics, Window: cfg.Window, Limits: cfg.Limits,
		CheckpointInterval: time.Second, FlushOnShutdown: true, SessionTimeout: 6 * time.Second, Metrics: pm})
	if err != nil {
		return err
	}
	var chaosSent atomic.Int64
	v := newView(func() int64 { return sumCounter(prodm.Produced) + chaosSent.Load() }, func() int64 { return sumCounter(pm.Messages) })

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	goRun := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goRun("processor", func() error { return proc.Run(svcCtx) })

	gcfg := gen.DefaultConfig()
	gcfg.Seed = cfg.Seed
	gcfg.Start = time.Now().UTC()
	gcfg.Window = time.Duration(cfg.Window.SizeMs) * time.Millisecond
	gcfg.OutOfOrderness = time.Duration(cfg.Window.OutOfOrdernessMs) * time.Millisecond
	gcfg.AllowedLateness = time.Duration(cfg.Window.AllowedLatenessMs) * time.Millisecond
	gcfg.MaxEventBytes = cfg.Limits.MaxEventBytes
	prodCtx, stopProducer := context.WithCancel(ctx)
	defer stopProducer()
	producerDone := make(chan struct{})
	goRun("producer", func() error {
		defer close(producerDone)
		_, err := producer.Run(prodCtx, producer.Config{Brokers: brokers, Topic: topics.Raw, Gen: gcfg, Rate: cfg.Rate,
			Progress: time.Hour, Metrics: prodm})
		return err
	})

	dcfg := dispatcher.DefaultConfig()
	dcfg.Brokers = brokers
	dcfg.AggregatesTopic, dcfg.DLQTopic, dcfg.AlertsTopic = topics.Agg, topics.DLQ, topics.Alerts
	dcfg.WebhookURL, dcfg.DiscordAPIBase = cfg.WebhookURL, cfg.APIBase
	dcfg.Registry = reg
	dcfg.EvalInterval = time.Second
	dcfg.Cooldown = time.Minute
	dcfg.Logger = slog.New(slog.DiscardHandler)
	dcfg.Rules = demoRules(cfg.Window)
	goRun("dispatcher", func() error { return dispatcher.Run(svcCtx, dcfg) })

	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	watch(watchCtx, &wg, brokers, topics, cfg.Partitions, v)

	burst := func(kind string, count int64, seed uint64) error {
		n, err := chaos.Run(prodCtx, chaos.Config{Brokers: brokers, Topic: topics.Raw, Kind: kind, Count: count,
			Seed: seed, Window: gcfg.Window, OutOfOrderness: gcfg.OutOfOrderness,
			AllowedLateness: gcfg.AllowedLateness, MaxEventBytes: gcfg.MaxEventBytes})
		chaosSent.Add(n)
		if err != nil && prodCtx.Err() == nil {
			return err
		}
		return nil
	}
	goRun("chaos", func() error {
		start := time.Now()
		for i, b := range cfg.Chaos {
			select {
			case <-prodCtx.Done():
				return nil
			case <-time.After(time.Until(start.Add(b.At))):
			}
			if err := burst(b.Kind, b.Count, cfg.Seed+uint64(i)+1); err != nil {
				return err
			}
		}
		return nil
	})
	quit := make(chan struct{})
	if cfg.Keys != nil {
		v.keysHelp = true
		// Lines, not raw key presses: no terminal mode to restore if the
		// demo dies, and it works the same under tmux, ssh or Windows.
		go func() {
			sc := bufio.NewScanner(cfg.Keys)
			seed := cfg.Seed + 1000
			for sc.Scan() {
				k, ok := keyBursts[strings.TrimSpace(sc.Text())]
				switch {
				case strings.TrimSpace(sc.Text()) == "q":
					close(quit)
					return
				case ok:
					seed++
					if err := burst(k.Kind, k.Count, seed); err != nil {
						errc <- err
						return
					}
				}
			}
		}()
	}

	start := time.Now()
	tick := time.NewTicker(cfg.Refresh)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-quit:
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-tick.C:
			v.render(cfg.Out, cfg.Clear)
		}
	}
	// Stop the producer, let the processor flush (its shutdown emits every
	// window not yet emitted), give the view a moment to read it, and stop.
	stopProducer()
	select { // its last batch may still be in flight
	case <-producerDone:
	case <-time.After(10 * time.Second):
	}
	// Let the processor finish what was produced, so the summary balances.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sumCounter(pm.Messages) >= sumCounter(prodm.Produced)+chaosSent.Load() {
			break
		}
	}
	stopServices()
	time.Sleep(1500 * time.Millisecond)
	stopWatch()
	wg.Wait()
	v.render(cfg.Out, cfg.Clear)
	v.summary(cfg.Out, time.Since(start))
	return runErr
}

// demoRules scale the alert rules to the demo's short windows so that a
// chaos burst raises an alert within seconds.
func demoRules(w window.Config) rules.Config {
	r := dispatcher.DefaultConfig().Rules
	size := time.Duration(w.SizeMs) * time.Millisecond
	r.WindowSize = size
	r.SettleDelay = size
	r.DLQBucket = 5 * time.Second
	r.DLQSpikeFloor = 20
	r.BaselineWindows = 6
	r.WarmupBuckets = 1 // the first burst comes seconds after the start
	r.RevenueMinHistory = 3
	r.LateFloor = 20
	return r
}

func sumCounter(c *prometheus.CounterVec) int64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var n float64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			n += d.GetCounter().GetValue()
		}
	}
	return int64(n)
}

// watch consumes the output topics into the view.
func watch(ctx context.Context, wg *sync.WaitGroup, brokers []string, topics topic.Names, partitions int, v *view) {
	consume := func(topic string, p int, fn func(kafka.Message)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return
				}
				fn(m)
			}
		}()
	}
	for p := 0; p < partitions; p++ {
		consume(topics.Agg, p, func(m kafka.Message) {
			if r, err := aggregate.Unmarshal(m.Value); err == nil {
				v.aggregate(r)
			}
		})
		consume(topics.DLQ, p, func(m kafka.Message) {
			if l, err := deadletter.FromMessage(m); err == nil {
				v.deadLetter(fmt.Sprintf("%d/%d", l.Partition, l.Offset), string(l.Reason))
			}
		})
	}
	consume(topics.Alerts, 0, func(m kafka.Message) {
		var a struct {
			Status, Rule, Title string
			FiredAt             time.Time `json:"fired_at"`
		}
		if json.Unmarshal(m.Value, &a) == nil {
			v.alert(alertLine{At: a.FiredAt, Status: a.Status, Rule: a.Rule, Title: a.Title})
		}
	})
}
