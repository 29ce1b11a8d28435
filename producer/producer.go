// Package producer is the producer service: the synthetic generator written
// to the raw topic, keyed by user_id so that every user (and so every
// session) stays in one partition.
//
// It heals or stops (internal/retry): a broker that is not up yet, a
// partition without a leader or a dropped connection is retried, one log
// line per change of state, up to Config.Retry's timeout; a missing topic
// or a topic that would delete what it writes stops it at once with an
// error that says why.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// Config configures a producer run. Validate says what is wrong with one;
// Run validates it first.
type Config struct {
	// Brokers are the bootstrap brokers, host:port; required.
	Brokers []string
	// Topic is the raw topic; required. It must exist: the producer never
	// creates topics.
	Topic string
	// Gen configures the generator; gen.DefaultConfig() is the usual start.
	// With a Rate, its EventsPerSecond is replaced by the Rate.
	Gen gen.Config
	// Rate is messages per second; 0 (the default) means as fast as the
	// broker takes them, the event clock then advancing at
	// Gen.EventsPerSecond. With a rate the simulated clock advances at the
	// same pace, so event time tracks the wall clock.
	Rate float64
	// Count stops the run after this many messages; 0 (the default) means
	// no limit.
	Count int64
	// Duration stops the run after this long; 0 (the default) means no
	// limit.
	Duration time.Duration
	// Progress is the interval of the progress log line; 0 means the
	// default, 5s.
	Progress time.Duration
	// Retry bounds the wait for the broker and the topic at start and the
	// healing of transient write errors; the zero value means
	// retry.DefaultPolicy() (3 minutes).
	Retry retry.Policy
	// Logger receives progress, retry and warning lines; nil (the default)
	// discards them.
	Logger *slog.Logger
	// Metrics are updated as messages are written; nil (the default) means
	// unregistered ones.
	Metrics *Metrics
	// Now is the wall clock the topic's retention is checked against; nil
	// (the default) means time.Now.
	Now func() time.Time
}

// Validate reports every setting that cannot work, naming the field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers must name at least one broker"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("Topic must be set"))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("Rate must be a finite number of messages per second, at least 0; got %g", c.Rate))
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Errorf("Count must not be negative, got %d", c.Count))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("Duration must not be negative, got %s", c.Duration))
	}
	if c.Progress < 0 {
		errs = append(errs, fmt.Errorf("Progress must not be negative, got %s", c.Progress))
	}
	if c.Retry != (retry.Policy{}) {
		if err := c.Retry.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("Retry: %w", err))
		}
	}
	if err := c.genConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// genConfig is the generator's config with the rate applied.
func (c Config) genConfig() gen.Config {
	g := c.Gen
	if c.Rate > 0 {
		g.EventsPerSecond = c.Rate
	}
	return g
}

// withDefaults fills the fields whose zero value means a default.
func (c Config) withDefaults() Config {
	if c.Progress == 0 {
		c.Progress = 5 * time.Second
	}
	if c.Retry == (retry.Policy{}) {
		c.Retry = retry.DefaultPolicy()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Metrics are the producer's Prometheus series.
type Metrics struct {
	Produced *prometheus.CounterVec
	Rate     prometheus.Gauge
}

// NewMetrics registers the producer's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Produced: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamlab_producer_messages_total",
			Help: "Messages written to the raw topic, by intended kind (normal, duplicate, malformed, ...)."}, []string{"kind"}),
		Rate: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamlab_producer_rate_per_second",
			Help: "Messages per second over the last progress interval."}),
	}
	if reg != nil {
		reg.MustRegister(m.Produced, m.Rate)
	}
	return m
}

// Stats summarise a run: what the broker acknowledged.
type Stats struct {
	Total   int64
	ByKind  map[gen.Kind]int64
	Elapsed time.Duration
}

// Run produces until Count or Duration is reached or ctx ends; a run
// stopped by ctx is a normal end. The stats count what the broker
// acknowledged, also when Run fails.
func Run(ctx context.Context, cfg Config) (*Stats, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g, err := gen.New(cfg.genConfig())
	if err != nil {
		return nil, err
	}
	st := &Stats{ByKind: make(map[gen.Kind]int64)}
	if err := checkTopic(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return st, nil
		}
		return nil, err
	}
	w := NewBatchWriter(cfg.Brokers, cfg.Topic, cfg.Retry, cfg.Logger)
	defer w.Close()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	r := &run{cfg: cfg, gen: g, w: w, st: st, start: time.Now()}
	return st, r.loop(ctx)
}

// checkTopic waits for the broker and the topic, and refuses a topic whose
// retention would delete the records as they are written.
func checkTopic(ctx context.Context, cfg Config) error {
	if _, err := kafkaio.AwaitTopic(ctx, cfg.Brokers, cfg.Topic, cfg.Retry, cfg.Logger); err != nil {
		if errors.Is(err, kafkaio.ErrNoTopic) {
			return fmt.Errorf("%w: %s, on Kafka at %s; create it first ('streamlab topics create')", kafkaio.ErrNoTopic, cfg.Topic, strings.Join(cfg.Brokers, ","))
		}
		return err
	}
	return checkRetention(ctx, cfg, cfg.Gen.Start)
}

// run is the state of one Run.
type run struct {
	cfg   Config
	gen   *gen.Generator
	w     *BatchWriter
	st    *Stats
	start time.Time
	// progress line state
	lastLog   time.Time
	lastTotal int64
}

const maxBatch = 1000

func (r *run) loop(ctx context.Context) error {
	defer func() { r.st.Elapsed = time.Since(r.start) }()
	r.lastLog = r.start
	batch := make([]kafka.Message, 0, maxBatch)
	kinds := make([]gen.Kind, 0, maxBatch)
	for (r.cfg.Count == 0 || r.st.Total < r.cfg.Count) && ctx.Err() == nil {
		n := r.due(ctx)
		if n == 0 {
			continue
		}
		batch, kinds = batch[:0], kinds[:0]
		for range n {
			m := r.gen.Next()
			// The record timestamp is the producer's (simulated) clock: the
			// processor's future_event check compares against it, so replaying
			// the same log gives the same decision however fast it is produced.
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value, Time: m.ProducedAt})
			kinds = append(kinds, m.Kind)
		}
		written, err := r.w.Write(ctx, batch)
		r.account(kinds, written)
		if err != nil {
			if ctx.Err() != nil {
				break // stopped while the broker was away: a normal end
			}
			return fmt.Errorf("produce to %s: %w", r.cfg.Topic, err)
		}
		r.progress()
	}
	return nil
}

// due is how many messages to generate now: a full batch without a rate,
// else what the rate allows so far (waiting a little when that is none).
func (r *run) due(ctx context.Context) int64 {
	n := int64(maxBatch)
	if r.cfg.Count > 0 {
		n = min(n, r.cfg.Count-r.st.Total)
	}
	if r.cfg.Rate == 0 {
		return n
	}
	// Pace: never run ahead of rate × elapsed; small batches keep it smooth.
	due := int64(r.cfg.Rate*time.Since(r.start).Seconds()) + 1 - r.st.Total
	if due <= 0 {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(float64(time.Second) / r.cfg.Rate)):
		}
		return 0
	}
	return min(n, due)
}

// account counts the messages the broker acknowledged.
func (r *run) account(kinds []gen.Kind, written []bool) {
	for i, k := range kinds {
		if written[i] {
			r.st.ByKind[k]++
			r.st.Total++
			r.cfg.Metrics.Produced.WithLabelValues(k.String()).Inc()
		}
	}
}

func (r *run) progress() {
	if time.Since(r.lastLog) < r.cfg.Progress {
		return
	}
	rate := float64(r.st.Total-r.lastTotal) / time.Since(r.lastLog).Seconds()
	r.cfg.Metrics.Rate.Set(rate)
	r.cfg.Logger.Info("producer progress", "total", r.st.Total, "rate_per_s", int64(rate), "by_kind", fmtKinds(r.st.ByKind))
	r.lastLog, r.lastTotal = time.Now(), r.st.Total
}

func fmtKinds(m map[gen.Kind]int64) string {
	s := ""
	for _, k := range gen.Kinds() {
		if m[k] > 0 {
			if s != "" {
				s += " "
			}
			s += fmt.Sprintf("%s=%d", k, m[k])
		}
	}
	return s
}

// Summary is a one-line description of the stats.
func (s *Stats) Summary() string {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Total) / s.Elapsed.Seconds()
	}
	return fmt.Sprintf("produced %d messages in %s (%.0f/s): %s", s.Total, s.Elapsed.Round(time.Millisecond), rate, fmtKinds(s.ByKind))
}
