package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/window"
)

// windowFlags are the engine settings every role that aggregates shares.
type windowFlags struct {
	size, ooo, lateness, maxFuture, replayRetention time.Duration
	maxEventBytes                                   int
	coalesceOffsets                                 int64
}

func (w *windowFlags) register(fs *pflag.FlagSet) {
	w.registerDefaults(fs, window.DefaultConfig(), event.DefaultLimits())
}

// registerDefaults registers the flags with role-specific defaults (the
// demo uses short windows so that something happens within seconds).
func (w *windowFlags) registerDefaults(fs *pflag.FlagSet, d window.Config, l event.Limits) {
	fs.DurationVar(&w.size, "window", ms(d.SizeMs), "tumbling window size")
	fs.DurationVar(&w.ooo, "out-of-orderness", ms(d.OutOfOrdernessMs), "bounded out-of-orderness: the watermark trails the highest event time by this much")
	fs.DurationVar(&w.lateness, "allowed-lateness", ms(d.AllowedLatenessMs), "how long after the watermark passes a window's end late events still update it")
	fs.DurationVar(&w.replayRetention, "replay-retention", ms(d.ReplayRetentionMs), "how long past the allowed lateness windows are kept so replayed dead letters can still update them")
	fs.DurationVar(&w.maxFuture, "max-future", ms(l.MaxFutureMs), "largest allowed skew of event_time past the message timestamp")
	fs.IntVar(&w.maxEventBytes, "max-event-bytes", l.MaxEventBytes, "largest accepted message value in bytes")
	coalesce := d.CoalesceOffsets
	if coalesce == 0 {
		coalesce = window.DefaultCoalesceOffsets
	}
	fs.Int64Var(&w.coalesceOffsets, "coalesce-offsets", coalesce,
		"upserts of a window are coalesced over aligned ranges of this many source offsets: one re-emission per changed window per range")
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// config validates the flags and converts them to engine settings.
func (w *windowFlags) config() (window.Config, event.Limits, error) {
	var errs []error
	whole := func(name string, d time.Duration, positive bool) int64 {
		switch {
		case d%time.Millisecond != 0:
			errs = append(errs, fmt.Errorf("%s %s: must be a whole number of milliseconds", flagRef(name), d))
		case positive && d <= 0:
			errs = append(errs, fmt.Errorf("%s %s: must be positive", flagRef(name), d))
		case d < 0:
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", flagRef(name), d))
		}
		return d.Milliseconds()
	}
	cfg := window.Config{
		SizeMs:            whole("window", w.size, true),
		OutOfOrdernessMs:  whole("out-of-orderness", w.ooo, false),
		AllowedLatenessMs: whole("allowed-lateness", w.lateness, false),
		ReplayRetentionMs: whole("replay-retention", w.replayRetention, false),
		CoalesceOffsets:   w.coalesceOffsets,
	}
	if w.coalesceOffsets < 1 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 1", flagRef("coalesce-offsets"), w.coalesceOffsets))
	}
	lim := event.Limits{MaxEventBytes: w.maxEventBytes, MaxFutureMs: whole("max-future", w.maxFuture, false)}
	if w.maxEventBytes <= 0 {
		errs = append(errs, fmt.Errorf("%s %d: must be positive", flagRef("max-event-bytes"), w.maxEventBytes))
	}
	return cfg, lim, usageErr(errors.Join(errs...))
}
