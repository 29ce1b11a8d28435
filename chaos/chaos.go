// Package chaos injects a burst of one kind of trouble into the raw topic
// of a running pipeline: malformed, too-late, duplicate, future or oversized
// messages, so that a demo can show the DLQ panel jump, an alert fire and
// `streamlab dlq replay` heal the numbers.
//
// It drives the same generator as the producer, with every chaos ratio at 0
// except the chosen kind's at 1, starting at the wall clock, so a burst is
// exactly as broken as the producer's own chaos and lands where a live
// stream's watermark makes it meet the intended outcome.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/producer"
)

// The kinds of burst, by the name the CLI takes.
const (
	Malformed = "malformed" // invalid_json, unsupported_schema or schema_violation dead letters
	Late      = "late"      // late_event dead letters: older than the allowed lateness
	Duplicate = "duplicate" // one event, then re-sends of it: the window's duplicates counter
	Future    = "future"    // future_event dead letters: a device clock a year ahead
	Oversized = "oversized" // oversized dead letters: just over MaxEventBytes
	// Skewed events are valid but stamped by a clock running ahead (within
	// MaxFuture): they are counted, and since a counted event moves the
	// watermark only up to its record's timestamp (contract §6), the
	// on-time traffic after them is not late.
	Skewed = "skewed"
)

// Kinds lists the burst kinds in a stable order, for help texts and errors.
func Kinds() []string { return []string{Malformed, Late, Duplicate, Future, Oversized, Skewed} }

// Config describes one burst; Validate says what is wrong with one. The
// window settings and MaxEventBytes must be the processor's: the generator
// places late events and sizes oversized ones from them.
type Config struct {
	// Brokers are the bootstrap brokers, host:port; required.
	Brokers []string
	// Topic is the raw topic; required. It must exist.
	Topic string
	// Kind is the kind of burst, one of Kinds(); required.
	Kind string
	// Count is how many messages the burst has; at least 1.
	Count int64
	// Seed selects the burst; the same seed and settings give the same
	// defects (event times follow the wall clock). 0 is a seed like any
	// other.
	Seed uint64

	// The processor's window settings: Window positive, OutOfOrderness and
	// AllowedLateness not negative, whole milliseconds.
	Window          time.Duration
	OutOfOrderness  time.Duration
	AllowedLateness time.Duration
	// MaxEventBytes is the processor's size limit, positive.
	MaxEventBytes int
	// MaxFuture is the processor's future bound: a skewed burst stays
	// within it. 0 (the default) means the processor's default, 10m.
	MaxFuture time.Duration

	// Retry bounds the wait for the broker and the topic and the healing
	// of transient write errors; the zero value means
	// retry.DefaultPolicy() (3 minutes).
	Retry retry.Policy
	// Logger receives the burst's summary and retry lines; nil (the
	// default) discards them.
	Logger *slog.Logger
}

// maxRequestBytes caps the value bytes handed to one WriteMessages call.
// The broker rejects a record batch over message.max.bytes (1 MiB by
// default) and kafka-go sends one batch per partition per call, so a burst
// of oversized messages must go out a few at a time.
const maxRequestBytes = 512 << 10

const maxBatch = 1000

// Validate reports every setting that cannot work, naming the field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers must name at least one broker"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("Topic must be set"))
	}
	if !slices.Contains(Kinds(), c.Kind) {
		errs = append(errs, fmt.Errorf("Kind %q: want one of %s", c.Kind, strings.Join(Kinds(), ", ")))
	}
	if c.Count < 1 {
		errs = append(errs, fmt.Errorf("Count must be at least 1, got %d", c.Count))
	}
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("Window must be positive, got %s", c.Window))
	}
	if c.OutOfOrderness < 0 {
		errs = append(errs, fmt.Errorf("OutOfOrderness must not be negative, got %s", c.OutOfOrderness))
	}
	if c.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("AllowedLateness must not be negative, got %s", c.AllowedLateness))
	}
	if c.MaxEventBytes <= 0 {
		errs = append(errs, fmt.Errorf("MaxEventBytes must be positive, got %d", c.MaxEventBytes))
	}
	if c.MaxFuture < 0 {
		errs = append(errs, fmt.Errorf("MaxFuture must not be negative, got %s", c.MaxFuture))
	}
	if c.Retry != (retry.Policy{}) {
		if err := c.Retry.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("Retry: %w", err))
		}
	}
	if len(errs) == 0 {
		// What is left are the generator's own bounds (e.g. a window of
		// years, a size limit too small for any event).
		if err := c.genConfig(time.Now()).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// genConfig turns a burst into generator settings: the producer's
// generator with every chaos ratio at 0 but the burst's at 1.
func (c Config) genConfig(start time.Time) gen.Config {
	g := gen.DefaultConfig()
	g.Seed = c.Seed
	g.Start = start.UTC().Truncate(time.Millisecond)
	g.Window, g.OutOfOrderness, g.AllowedLateness, g.MaxEventBytes = c.Window, c.OutOfOrderness, c.AllowedLateness, c.MaxEventBytes
	// The simulated clock is the record timestamp (as in the producer);
	// spreading the burst over about a second keeps it near the wall clock
	// however many messages there are.
	g.EventsPerSecond = max(float64(c.Count), g.EventsPerSecond)
	if c.MaxFuture > 0 {
		g.MaxFuture = c.MaxFuture
	}
	g.Disorder, g.AllowedLate, g.TooLate, g.Duplicate, g.Malformed, g.Oversized, g.Future, g.Skewed = 0, 0, 0, 0, 0, 0, 0, 0
	switch c.Kind {
	case Malformed:
		g.Malformed = 1
	case Late:
		g.TooLate = 1
	case Duplicate:
		g.Duplicate = 1
	case Future:
		g.Future = 1
	case Oversized:
		g.Oversized = 1
	case Skewed:
		g.Skewed = 1
	}
	return g
}

// Run writes the burst and returns how many messages the broker
// acknowledged. It waits for the broker and the topic under cfg.Retry (a
// missing topic stops it at once), and heals transient write errors. A
// burst of duplicates starts with the one valid event it then re-sends
// Count-1 times: a duplicate needs an original, and the processor must see
// it too. Cancelling ctx stops the burst between batches; a batch in
// flight is finished so that the count returned is what the topic holds.
func Run(ctx context.Context, cfg Config) (int64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, fmt.Errorf("chaos: %w", err)
	}
	if cfg.Retry == (retry.Policy{}) {
		cfg.Retry = retry.DefaultPolicy()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := kafkaio.AwaitTopic(ctx, cfg.Brokers, cfg.Topic, cfg.Retry, cfg.Logger); err != nil {
		return 0, fmt.Errorf("chaos: %w", err)
	}
	// The burst starts at the wall clock once the broker answers, so that
	// it lands where the live stream's watermark is.
	g, err := gen.New(cfg.genConfig(time.Now()))
	if err != nil {
		return 0, fmt.Errorf("chaos: %w", err)
	}
	w := producer.NewBatchWriter(cfg.Brokers, cfg.Topic, cfg.Retry, cfg.Logger)
	defer w.Close()
	written, byKind, err := burst(ctx, cfg, g, w)
	cfg.Logger.Info("chaos burst written", "kind", cfg.Kind, "topic", cfg.Topic, "messages", written, "by_intent", fmtKinds(byKind))
	switch {
	case err != nil && ctx.Err() == nil:
		return written, fmt.Errorf("chaos: write %s burst to %s: %w", cfg.Kind, cfg.Topic, err)
	case written < cfg.Count:
		return written, fmt.Errorf("chaos: stopped after %d of %d messages: %w", written, cfg.Count, ctx.Err())
	}
	return written, nil
}

// burst writes batches until Count messages are acknowledged, ctx ends or
// a write fails for good.
func burst(ctx context.Context, cfg Config, g *gen.Generator, w *producer.BatchWriter) (int64, map[gen.Kind]int64, error) {
	var written int64
	byKind := make(map[gen.Kind]int64)
	batch := make([]kafka.Message, 0, maxBatch)
	kinds := make([]gen.Kind, 0, maxBatch)
	for generated := int64(0); generated < cfg.Count && ctx.Err() == nil; {
		batch, kinds = batch[:0], kinds[:0]
		bytes := 0
		for int64(len(batch)) < min(maxBatch, cfg.Count-generated) && (len(batch) == 0 || bytes < maxRequestBytes) {
			m := g.Next()
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value, Time: m.ProducedAt})
			kinds = append(kinds, m.Kind)
			bytes += len(m.Key) + len(m.Value)
		}
		generated += int64(len(batch))
		ok, err := w.Write(ctx, batch)
		for i, k := range kinds {
			if ok[i] {
				written++
				byKind[k]++
			}
		}
		if err != nil {
			return written, byKind, err
		}
	}
	return written, byKind, nil
}

func fmtKinds(m map[gen.Kind]int64) string {
	var parts []string
	for _, k := range gen.Kinds() {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, " ")
}
