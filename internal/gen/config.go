package gen

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config drives a Generator. Start from DefaultConfig and override fields:
// New validates strictly and never fills in zero values, because a zero chaos
// ratio is a legitimate choice ("no malformed events") and must not silently
// become a default.
type Config struct {
	// Seed selects the whole output sequence: the same Config gives a
	// byte-identical sequence of messages.
	Seed uint64

	// Start is the simulated event-time clock at the first message. Offline
	// runs use a fixed instant for reproducibility; the live producer passes
	// time.Now() so that event time tracks the wall clock.
	Start time.Time

	// EventsPerSecond is the event-time density: the simulated clock advances
	// by a jittered gap (uniform in [0.5, 1.5) times 1/EventsPerSecond) per
	// message.
	EventsPerSecond float64

	// Users is the size of the user population.
	Users int

	// The processor's window settings. The generator uses them to place
	// disordered, allowed-late and too-late events where they have the
	// intended outcome.
	Window          time.Duration
	OutOfOrderness  time.Duration
	AllowedLateness time.Duration

	// MaxEventBytes is the processor's size limit; oversized messages are
	// MaxEventBytes+1 to MaxEventBytes+1000 bytes long.
	MaxEventBytes int

	// MaxFuture is the processor's future bound: skewed events are at most
	// this far ahead of the clock. Default 10 min.
	MaxFuture time.Duration

	// Chaos ratios: the probability of each kind per emitted message. Their
	// sum must not exceed 1; the remainder is normal traffic.
	Disorder    float64
	AllowedLate float64
	TooLate     float64
	Duplicate   float64
	Malformed   float64
	Oversized   float64
	Future      float64
	// Skewed events are valid but ahead of the record timestamp (within
	// MaxFuture). Default 0: offline every line's timestamp is --now, which
	// does not cap a skewed event in a log from the past, so they are for
	// the Kafka roles (producer --skewed-ratio).
	Skewed float64
}

// DefaultStart is the fixed clock start used for reproducible offline runs.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultConfig returns the settings the CLI and the producer start from.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Start:           DefaultStart,
		EventsPerSecond: 200,
		Users:           5000,
		Window:          time.Minute,
		OutOfOrderness:  5 * time.Second,
		AllowedLateness: 2 * time.Minute,
		MaxEventBytes:   65536,
		MaxFuture:       10 * time.Minute,
		Disorder:        0.10,
		AllowedLate:     0.02,
		TooLate:         0.01,
		Duplicate:       0.02,
		Malformed:       0.01,
		Oversized:       0.001,
		Future:          0.002,
	}
}

// Limits that keep the generator's int64-nanosecond clock and its memory use
// sane; they are far outside any realistic demo setting.
const (
	maxUsers         = 1_000_000
	minMaxEventBytes = 1024
	maxMaxEventBytes = 64 << 20
	minEventsPerSec  = 0.001
	maxEventsPerSec  = 1e9
	maxWindow        = 24 * time.Hour
	maxLateness      = 7 * 24 * time.Hour
)

var (
	minStart = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStart = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate reports every problem in c at once, so a bad command line can be
// fixed in one go.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Start.IsZero() {
		add("Start is not set (use e.g. %s, or time.Now() for live traffic)", DefaultStart.Format(time.RFC3339))
	} else if c.Start.Before(minStart) || !c.Start.Before(maxStart) {
		add("Start %s is outside [%d, %d)", c.Start.UTC().Format(time.RFC3339), minStart.Year(), maxStart.Year())
	}
	if math.IsNaN(c.EventsPerSecond) || c.EventsPerSecond < minEventsPerSec || c.EventsPerSecond > maxEventsPerSec {
		add("EventsPerSecond must be in [%g, %g], got %g", minEventsPerSec, float64(maxEventsPerSec), c.EventsPerSecond)
	}
	if c.Users < 1 || c.Users > maxUsers {
		add("Users must be in [1, %d], got %d", maxUsers, c.Users)
	}
	if c.Window <= 0 || c.Window > maxWindow || c.Window%time.Millisecond != 0 {
		add("Window must be a whole number of milliseconds in (0, %s], got %s", maxWindow, c.Window)
	}
	if c.OutOfOrderness < 0 || c.OutOfOrderness > maxWindow {
		add("OutOfOrderness must be in [0, %s], got %s", maxWindow, c.OutOfOrderness)
	}
	if c.AllowedLateness < 0 || c.AllowedLateness > maxLateness {
		add("AllowedLateness must be in [0, %s], got %s", maxLateness, c.AllowedLateness)
	}
	if c.MaxFuture < 0 || c.MaxFuture > maxLateness {
		add("MaxFuture must be in [0, %s], got %s", maxLateness, c.MaxFuture)
	}
	if c.MaxEventBytes < minMaxEventBytes || c.MaxEventBytes > maxMaxEventBytes {
		add("MaxEventBytes must be in [%d, %d], got %d", minMaxEventBytes, maxMaxEventBytes, c.MaxEventBytes)
	}

	sum := 0.0
	for _, r := range c.ratios() {
		if math.IsNaN(r.value) || r.value < 0 || r.value > 1 {
			add("%s must be in [0, 1], got %g", r.field, r.value)
			continue
		}
		sum += r.value
	}
	// A little slack so that ratios like 0.1+0.2+0.7 are not rejected for
	// floating-point rounding.
	if sum > 1+1e-9 {
		add("the chaos ratios (Duplicate, Malformed, Oversized, Future, TooLate, AllowedLate, Disorder, Skewed) sum to %g, which is more than 1", sum)
	}

	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("gen: invalid config: %w", errors.Join(errs...))
}

type namedRatio struct {
	field string // the Config field, as Validate names it
	kind  Kind
	value float64
}

// ratios lists the chaos ratios in the order Next draws them; the order is
// part of the deterministic output, so do not reorder.
func (c Config) ratios() []namedRatio {
	return []namedRatio{
		{"Duplicate", Duplicate, c.Duplicate},
		{"Malformed", Malformed, c.Malformed},
		{"Oversized", Oversized, c.Oversized},
		{"Future", Future, c.Future},
		{"TooLate", TooLate, c.TooLate},
		{"AllowedLate", AllowedLate, c.AllowedLate},
		{"Disorder", Disordered, c.Disorder},
		{"Skewed", Skewed, c.Skewed},
	}
}
