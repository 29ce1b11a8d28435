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
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// The kinds of burst, by the name the CLI takes.
const (
	Malformed = "malformed" // invalid_json, unsupported_schema or schema_violation dead letters
	Late      = "late"      // late_event dead letters: older than the allowed lateness
	Duplicate = "duplicate" // one event, then re-sends of it: the window's duplicates counter
	Future    = "future"    // future_event dead letters: a device clock a year ahead
	Oversized = "oversized" // oversized dead letters: just over MaxEventBytes
)

// Kinds lists the burst kinds in a stable order, for help texts and errors.
func Kinds() []string { return []string{Malformed, Late, Duplicate, Future, Oversized} }

// Config describes one burst. The window settings and MaxEventBytes must be
// the processor's: the generator places late events and sizes oversized
// ones from them.
type Config struct {
	Brokers []string
	Topic   string
	Kind    string
	Count   int64
	Seed    uint64

	Window          time.Duration
	OutOfOrderness  time.Duration
	AllowedLateness time.Duration
	MaxEventBytes   int
}

// maxRequestBytes caps the value bytes handed to one WriteMessages call.
// The broker rejects a record batch over message.max.bytes (1 MiB by
// default) and kafka-go sends one batch per partition per call, so a burst
// of oversized messages must go out a few at a time.
const maxRequestBytes = 512 << 10

const maxBatch = 1000

// genConfig turns a burst into generator settings.
func (c Config) genConfig(start time.Time) (gen.Config, error) {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers given"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("no topic given"))
	}
	if c.Count < 1 {
		errs = append(errs, fmt.Errorf("count %d: must be at least 1", c.Count))
	}
	g := gen.DefaultConfig()
	g.Seed = c.Seed
	g.Start = start.UTC().Truncate(time.Millisecond)
	g.Window, g.OutOfOrderness, g.AllowedLateness, g.MaxEventBytes = c.Window, c.OutOfOrderness, c.AllowedLateness, c.MaxEventBytes
	// The simulated clock is the record timestamp (as in the producer);
	// spreading the burst over about a second keeps it near the wall clock
	// however many messages there are.
	g.EventsPerSecond = max(float64(c.Count), g.EventsPerSecond)
	g.Disorder, g.AllowedLate, g.TooLate, g.Duplicate, g.Malformed, g.Oversized, g.Future = 0, 0, 0, 0, 0, 0, 0
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
	default:
		errs = append(errs, fmt.Errorf("kind %q: want one of %s", c.Kind, strings.Join(Kinds(), ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return g, fmt.Errorf("chaos: %w", err)
	}
	if err := g.Validate(); err != nil {
		return g, fmt.Errorf("chaos: %w", err)
	}
	return g, nil
}

// Run writes the burst and returns how many messages it wrote. A burst of
// duplicates starts with the one valid event it then re-sends Count-1
// times: a duplicate needs an original, and the processor must see it too.
// Cancelling ctx stops the burst between batches; a batch in flight is
// finished so that the count returned is what the topic holds.
func Run(ctx context.Context, cfg Config) (int64, error) {
	gcfg, err := cfg.genConfig(time.Now())
	if err != nil {
		return 0, err
	}
	g, err := gen.New(gcfg)
	if err != nil {
		return 0, fmt.Errorf("chaos: %w", err)
	}
	w := kafkaio.NewWriter(cfg.Brokers, cfg.Topic)
	defer w.Close()

	var written int64
	byKind := make(map[gen.Kind]int64)
	batch := make([]kafka.Message, 0, maxBatch)
	kinds := make([]gen.Kind, 0, maxBatch)
	for written < cfg.Count && ctx.Err() == nil {
		batch, kinds = batch[:0], kinds[:0]
		bytes := 0
		for int64(len(batch)) < min(maxBatch, cfg.Count-written) && (len(batch) == 0 || bytes < maxRequestBytes) {
			m := g.Next()
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value, Time: m.ProducedAt})
			kinds = append(kinds, m.Kind)
			bytes += len(m.Key) + len(m.Value)
		}
		if err := w.WriteMessages(context.WithoutCancel(ctx), batch...); err != nil {
			return written, fmt.Errorf("chaos: write %s burst to %s: %w", cfg.Kind, cfg.Topic, err)
		}
		written += int64(len(batch))
		for _, k := range kinds {
			byKind[k]++
		}
	}
	slog.Info("chaos burst written", "kind", cfg.Kind, "topic", cfg.Topic, "messages", written, "by_intent", fmtKinds(byKind))
	if written < cfg.Count {
		return written, fmt.Errorf("chaos: stopped after %d of %d messages: %w", written, cfg.Count, ctx.Err())
	}
	return written, nil
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
