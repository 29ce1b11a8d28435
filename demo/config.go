package demo

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/window"
)

// Config of a demo run. A zero field takes the default its comment names
// (DefaultConfig); Validate says what is wrong with the rest.
type Config struct {
	// Duration ends the run after this long, then drains and prints the
	// summary; default 0: until ctx ends or q is typed.
	Duration time.Duration
	// Rate is what the producer writes, in messages per second; default 400.
	// The demo always paces: event time must track the wall clock for
	// windows to close while one watches.
	Rate float64
	// Partitions of the raw, aggregate and dead-letter topics; default 3.
	Partitions int
	// Window is the engine's settings, shared by the processor, the
	// producer's generator and the chaos bursts; default DefaultWindow().
	Window window.Config
	// Limits are the processor's event limits; default event.DefaultLimits().
	Limits event.Limits
	// Chaos are bursts written at fixed times after the start; default none
	// (the command's default is DefaultSchedule).
	Chaos []Burst
	// WebhookURL is an optional Discord webhook (a secret); default "": the
	// alerts show only in the view.
	WebhookURL string
	// APIBase replaces Discord's API base URL (a local stand-in); default "".
	APIBase string
	// Refresh is how often a frame is drawn; default 1 s. A chaos key draws
	// one at once as well.
	Refresh time.Duration
	// Terminal redraws the frame in place with ANSI sequences; default
	// false: plain frames one after another, for logs and CI.
	Terminal bool
	// Out receives the frames and the summary; default io.Discard.
	Out io.Writer
	// Keys are typed commands, one a line: m, l, d, f, o or s writes a chaos
	// burst (keyBursts), q ends the run; default nil: none.
	Keys io.Reader
	// Seed of the generator; default 0 (every value is a valid seed).
	Seed uint64
	// DrainTimeout bounds each wait of the shutdown (the processor catching
	// up, the outputs read back); default 30 s. Exceeding it is an error.
	DrainTimeout time.Duration
	// Logger receives the demo's and the dispatcher's logs; default a
	// discarding logger, because the view is the output.
	Logger *slog.Logger
}

// DefaultWindow is the demo's engine settings: 10 s windows, 2 s
// out-of-orderness, 20 s allowed lateness, 2 min replay retention, so that
// a window opens, is emitted and becomes final within half a minute; and
// upserts coalesced over 100 offsets, not 1000, so that at the demo's 400
// messages/s over 3 partitions an upsert shows within a second.
func DefaultWindow() window.Config {
	return window.Config{SizeMs: 10_000, OutOfOrdernessMs: 2_000, AllowedLatenessMs: 20_000, ReplayRetentionMs: 120_000,
		CoalesceOffsets: 100}
}

// DefaultSchedule is the command's default chaos: a malformed burst, then
// a late one, so a first run shows the dead letters jump and an alert fire.
const DefaultSchedule = "6s:malformed:300,12s:late:200"

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Rate:         400,
		Partitions:   3,
		Window:       DefaultWindow(),
		Limits:       event.DefaultLimits(),
		Refresh:      time.Second,
		Out:          io.Discard,
		DrainTimeout: 30 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	}
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.Partitions == 0 {
		c.Partitions = d.Partitions
	}
	if c.Window == (window.Config{}) {
		c.Window = d.Window
	}
	if c.Limits == (event.Limits{}) {
		c.Limits = d.Limits
	}
	if c.Refresh == 0 {
		c.Refresh = d.Refresh
	}
	if c.Out == nil {
		c.Out = d.Out
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports every setting that cannot work, naming the field. Zero
// fields are valid: they take their defaults.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, bad bool) {
		if bad {
			errs = append(errs, fmt.Errorf("demo: %s must not be negative", name))
		}
	}
	neg("Duration", c.Duration < 0)
	neg("Rate", c.Rate < 0)
	neg("Partitions", c.Partitions < 0)
	neg("Refresh", c.Refresh < 0)
	neg("DrainTimeout", c.DrainTimeout < 0)
	if c.Window != (window.Config{}) {
		if err := c.Window.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("demo: Window: %w", err))
		}
	}
	if c.Limits != (event.Limits{}) && (c.Limits.MaxEventBytes <= 0 || c.Limits.MaxFutureMs < 0) {
		errs = append(errs, errors.New("demo: Limits: MaxEventBytes must be positive and MaxFutureMs not negative"))
	}
	for i, b := range c.Chaos {
		if err := b.validate(); err != nil {
			errs = append(errs, fmt.Errorf("demo: Chaos[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
