package window

import (
	"errors"
	"fmt"
)

// DefaultCoalesceOffsets is the default length, in source offsets, of a
// coalescing range (Config.CoalesceOffsets).
const DefaultCoalesceOffsets = 1000

// Config holds the window settings. Every field is part of the engine's
// definition of its output, so a snapshot taken with other settings is
// refused (Restore). Start from DefaultConfig.
type Config struct {
	// SizeMs is the tumbling window length. Default 60 000 (1 min).
	SizeMs int64 `json:"size_ms"`
	// OutOfOrdernessMs is how far the watermark trails the highest time a
	// counted event vouches for (min of its event_time and its record
	// timestamp). Default 5 000.
	OutOfOrdernessMs int64 `json:"out_of_orderness_ms"`
	// AllowedLatenessMs is how long after the watermark passes a window's
	// end the window still accepts events (upserts). Default 120 000.
	AllowedLatenessMs int64 `json:"allowed_lateness_ms"`
	// ReplayRetentionMs keeps windows this much longer than the allowed
	// lateness so that replayed dead letters (contract G4) can still upsert
	// them. Ordinary events never see it: for them lateness is unchanged.
	// Default 900 000 (15 min).
	ReplayRetentionMs int64 `json:"replay_retention_ms"`
	// CoalesceOffsets is N, the length of the coalescing ranges
	// [k·N, (k+1)·N) of source offsets: a window changed after its first
	// emission is published once at the end of the range, with one new
	// revision, however many events changed it (docs/semantics.md).
	// Default (and 0): DefaultCoalesceOffsets, 1000.
	CoalesceOffsets int64 `json:"coalesce_offsets"`
}

// DefaultConfig is 1-minute windows, 5 s out-of-orderness, 2 min lateness,
// 15 min replay retention and coalescing ranges of 1000 offsets.
func DefaultConfig() Config {
	return Config{SizeMs: 60_000, OutOfOrdernessMs: 5_000, AllowedLatenessMs: 120_000, ReplayRetentionMs: 900_000,
		CoalesceOffsets: DefaultCoalesceOffsets}
}

// Validate says what to fix in a bad configuration.
func (c Config) Validate() error {
	var errs []error
	if c.SizeMs <= 0 {
		errs = append(errs, fmt.Errorf("window size must be positive, got %dms", c.SizeMs))
	}
	if c.OutOfOrdernessMs < 0 {
		errs = append(errs, fmt.Errorf("out-of-orderness must not be negative, got %dms", c.OutOfOrdernessMs))
	}
	if c.AllowedLatenessMs < 0 {
		errs = append(errs, fmt.Errorf("allowed lateness must not be negative, got %dms", c.AllowedLatenessMs))
	}
	if c.ReplayRetentionMs < 0 {
		errs = append(errs, fmt.Errorf("replay retention must not be negative, got %dms", c.ReplayRetentionMs))
	}
	if c.CoalesceOffsets < 0 {
		errs = append(errs, fmt.Errorf("coalescing range must not be negative, got %d offsets", c.CoalesceOffsets))
	}
	return errors.Join(errs...)
}

// withDefaults fills the fields whose zero value means "the default".
func (c Config) withDefaults() Config {
	if c.CoalesceOffsets == 0 {
		c.CoalesceOffsets = DefaultCoalesceOffsets
	}
	return c
}

// WindowStart is floor(t/size)*size, a true floor also before 1970.
func (c Config) WindowStart(t int64) int64 {
	return floorDiv(t, c.SizeMs) * c.SizeMs
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
