package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
)

// Config configures a processor replica. Start from DefaultConfig and set
// Brokers: a zero numeric setting is an error, never a silent default (a
// session timeout of 0 cannot work, and replacing it behind the user's back
// hides the mistake). Validate names every field that is out of range; New
// calls it.
type Config struct {
	// Brokers are the bootstrap brokers, host:port; required.
	Brokers []string
	// Topics are the topic names; default topic.Defaults(). The raw, DLQ,
	// aggregate and state topics must exist (`streamlab topics create`).
	Topics topic.Names
	// Group is the consumer group id; default "streamlab-processor". Each
	// group needs a state topic of its own.
	Group string
	// Window are the window settings; default window.DefaultConfig(). They
	// must equal those of the checkpoints already on the state topic.
	Window window.Config
	// Limits are the event limits; default event.DefaultLimits().
	Limits event.Limits

	// CheckpointInterval is how often a partition that received input
	// checkpoints; default 5s, must be positive. A checkpoint is written
	// only after every output it covers is acknowledged, and the group's
	// offset is committed right after it.
	CheckpointInterval time.Duration
	// CheckpointEvery additionally checkpoints a partition after this many
	// messages; default 0, meaning by interval only. At full speed a
	// message bound fires far more often than the interval (20 000
	// messages is a fraction of a second), so it is off unless asked for.
	CheckpointEvery int
	// MaxBatch is the most messages processed between two hand-overs of
	// outputs to the writers; default 2000, must be positive.
	MaxBatch int
	// MaxInFlight is how many processed batches may wait for their
	// acknowledgements while the next one is processed; default 4, must be
	// positive. 1 is stop-and-wait.
	MaxInFlight int

	// FlushOnShutdown emits windows the watermark has not passed yet when
	// the replica stops (contract §6); default true. A rebalance never
	// flushes: only a stop of the whole replica does.
	FlushOnShutdown bool

	// SessionTimeout is the consumer group session timeout: how fast a
	// crashed replica's partitions move; default 10s, must be positive.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds a rebalance; default 30s, must be positive.
	RebalanceTimeout time.Duration
	// Retry bounds the wait for the broker and the topics at start
	// (Retry.Timeout, the connect timeout) and the backoff of transient
	// errors while running; the zero value means retry.DefaultPolicy()
	// (3 minutes). Timeout 0 waits until the context ends.
	Retry retry.Policy

	// ProgressInterval is the interval of the progress log line (rate, lag
	// and watermark per partition); default 30s, must be positive.
	ProgressInterval time.Duration
	// GaugeInterval is how often the per-partition gauges (watermark, lag,
	// open windows, checkpoint age) are refreshed, with or without input;
	// default 5s, must be positive.
	GaugeInterval time.Duration

	// Store keeps the checkpoints; nil (the default) means the state topic
	// Topics.State, partition p's checkpoints in its partition p.
	Store Store

	// Observer is told every outcome, emission and flush of every
	// partition, as the processor's own metrics are; nil (the default)
	// means none. Workers of different partitions call it concurrently.
	Observer pipeline.Observer

	// Logger receives the replica's log lines; nil (the default) discards
	// them.
	Logger *slog.Logger
	// Metrics are the Prometheus series; nil (the default) means
	// unregistered ones.
	Metrics *Metrics
	// Now is the wall clock of dead letters' failed_at and of lag gauges;
	// nil (the default) means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the documented defaults; Brokers is left empty.
func DefaultConfig() Config {
	return Config{
		Topics:             topic.Defaults(),
		Group:              "streamlab-processor",
		Window:             window.DefaultConfig(),
		Limits:             event.DefaultLimits(),
		CheckpointInterval: 5 * time.Second,
		MaxBatch:           2000,
		MaxInFlight:        4,
		FlushOnShutdown:    true,
		SessionTimeout:     10 * time.Second,
		RebalanceTimeout:   30 * time.Second,
		Retry:              retry.DefaultPolicy(),
		ProgressInterval:   30 * time.Second,
		GaugeInterval:      5 * time.Second,
	}
}

// Validate reports every setting that cannot work, naming the field.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		add("Brokers must name at least one broker")
	}
	for _, t := range []struct{ field, name string }{{"Topics.Raw", c.Topics.Raw}, {"Topics.DLQ", c.Topics.DLQ},
		{"Topics.Agg", c.Topics.Agg}, {"Topics.State", c.Topics.State}} {
		if t.name == "" {
			add("%s must be set", t.field)
		}
	}
	if c.Group == "" {
		add("Group must be set")
	}
	if err := c.Window.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Limits.MaxEventBytes <= 0 {
		add("Limits.MaxEventBytes must be positive, got %d", c.Limits.MaxEventBytes)
	}
	if c.Limits.MaxFutureMs < 0 {
		add("Limits.MaxFutureMs must not be negative, got %d", c.Limits.MaxFutureMs)
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			add("%s must be positive, got %s", name, d)
		}
	}
	positive("CheckpointInterval", c.CheckpointInterval)
	positive("SessionTimeout", c.SessionTimeout)
	positive("RebalanceTimeout", c.RebalanceTimeout)
	positive("ProgressInterval", c.ProgressInterval)
	positive("GaugeInterval", c.GaugeInterval)
	if c.CheckpointEvery < 0 {
		add("CheckpointEvery must not be negative (0 checkpoints by interval only), got %d", c.CheckpointEvery)
	}
	if c.MaxBatch <= 0 {
		add("MaxBatch must be positive, got %d", c.MaxBatch)
	}
	if c.MaxInFlight <= 0 {
		add("MaxInFlight must be positive, got %d", c.MaxInFlight)
	}
	if c.Retry != (retry.Policy{}) {
		if err := c.Retry.Validate(); err != nil {
			add("Retry: %w", err)
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills the optional dependencies.
func (c Config) withDefaults() Config {
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
