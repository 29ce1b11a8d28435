// Package producer is the producer service: the synthetic generator written
// to the raw topic, keyed by user_id so that every user (and so every
// session) stays in one partition.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// Config configures a producer run.
type Config struct {
	Brokers []string
	Topic   string
	Gen     gen.Config
	// Rate is messages per second; 0 means as fast as the broker takes them.
	// With a rate the simulated event clock advances at the same pace, so
	// event time tracks the wall clock.
	Rate     float64
	Count    int64         // stop after this many messages; 0 = no limit
	Duration time.Duration // stop after this long; 0 = no limit
	Progress time.Duration // progress log interval; default 5 s
	Metrics  *Metrics
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

// Stats summarise a run.
type Stats struct {
	Total   int64
	ByKind  map[gen.Kind]int64
	Elapsed time.Duration
}

// Run produces until Count or Duration is reached or ctx ends.
func Run(ctx context.Context, cfg Config) (*Stats, error) {
	if cfg.Progress <= 0 {
		cfg.Progress = 5 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Rate < 0 {
		return nil, errors.New("--rate must not be negative")
	}
	if cfg.Rate > 0 {
		cfg.Gen.EventsPerSecond = cfg.Rate
	}
	g, err := gen.New(cfg.Gen)
	if err != nil {
		return nil, err
	}
	counts, err := kafkaio.PartitionCounts(ctx, cfg.Brokers, cfg.Topic)
	if err != nil || counts[cfg.Topic] == 0 {
		return nil, fmt.Errorf("topic %s is not available (%v): run 'streamlab topics create' first", cfg.Topic, err)
	}
	w := kafkaio.NewWriter(cfg.Brokers, cfg.Topic)
	defer w.Close()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	st := &Stats{ByKind: make(map[gen.Kind]int64)}
	start := time.Now()
	lastLog, lastTotal := start, int64(0)
	const maxBatch = 1000
	batch := make([]kafka.Message, 0, maxBatch)
	kinds := make([]gen.Kind, 0, maxBatch)
	for cfg.Count == 0 || st.Total < cfg.Count {
		if ctx.Err() != nil {
			break
		}
		n := int64(maxBatch)
		if cfg.Count > 0 {
			n = min(n, cfg.Count-st.Total)
		}
		if cfg.Rate > 0 {
			// Pace: never run ahead of rate × elapsed; small batches keep it smooth.
			due := int64(cfg.Rate*time.Since(start).Seconds()) + 1 - st.Total
			if due <= 0 {
				wait := time.Duration(float64(time.Second) / cfg.Rate)
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				continue
			}
			n = min(n, due)
		}
		batch, kinds = batch[:0], kinds[:0]
		for i := int64(0); i < n; i++ {
			m := g.Next()
			// The record timestamp is the producer's (simulated) clock: the
			// processor's future_event check compares against it, so replaying
			// the same log gives the same decision however fast it is produced.
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value, Time: m.ProducedAt})
			kinds = append(kinds, m.Kind)
		}
		if err := w.WriteMessages(context.WithoutCancel(ctx), batch...); err != nil {
			return st, fmt.Errorf("produce to %s: %w", cfg.Topic, err)
		}
		for _, k := range kinds {
			st.ByKind[k]++
			cfg.Metrics.Produced.WithLabelValues(k.String()).Inc()
		}
		st.Total += int64(len(batch))
		if time.Since(lastLog) >= cfg.Progress {
			rate := float64(st.Total-lastTotal) / time.Since(lastLog).Seconds()
			cfg.Metrics.Rate.Set(rate)
			slog.Info("producer progress", "total", st.Total, "rate_per_s", int64(rate), "by_kind", fmtKinds(st.ByKind))
			lastLog, lastTotal = time.Now(), st.Total
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
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
