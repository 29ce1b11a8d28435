package rules

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Config holds every threshold. Start from DefaultConfig and change what
// you need: Validate rejects out-of-range values instead of replacing them.
type Config struct {
	// Lookback is how much of the recent past the rules keep; the
	// dispatcher re-reads this much of its topics at start, so a restart
	// rebuilds the same state. Default 30m; it must cover a baseline.
	Lookback time.Duration

	// WindowSize is the processor's window length, used until a record
	// says otherwise. Default 1m.
	WindowSize time.Duration
	// SettleDelay is how long after a window's first record it is judged,
	// so the other partitions and most allowed-late upserts are in.
	// Default 0, which means one window length.
	SettleDelay time.Duration
	// BaselineWindows is how many trailing windows (window rules) or
	// buckets with traffic (spike rules) form a baseline. Default 15.
	BaselineWindows int

	// DLQBucket is the unit of time dead letters are counted in, by
	// dlq.failed_at. Default 1m; a whole number of seconds.
	DLQBucket time.Duration
	// WarmupBuckets is the minimum history of a spike rule: buckets in
	// which the pipeline ran, before the judged one. Without it there is
	// no verdict. Default 2.
	WarmupBuckets int
	// DLQSpikeFloor: a dlq_spike needs more dead letters of its kind in a
	// bucket than this. Default 20.
	DLQSpikeFloor int64
	// DLQSpikeMultiple: and a share of the input above this multiple of
	// the baseline share. Default 3; at least 1.
	DLQSpikeMultiple float64
	// LateFloor: a late_surge needs more late_event dead letters in a
	// bucket than this. Default 20.
	LateFloor int64
	// LateMultiple: and a share of the input above this multiple of the
	// baseline share. Default 3; at least 1.
	LateMultiple float64

	// RevenueMADK sets the revenue_drop band: median − k × 1.4826 × MAD
	// (about k standard deviations for normal noise). Default 4.
	RevenueMADK float64
	// RevenueMinDrop: and at least this fraction below the median (guards
	// a MAD of 0). Default 0.5, in [0, 1].
	RevenueMinDrop float64
	// RevenueDropWindows: revenue_drop fires when this many settled
	// windows in a row are below the band of the windows before them. A
	// currency's revenue per window is a sum of few orders of very unequal
	// amounts: single windows below half the median happen on a healthy
	// stack (2 in 5 439 judgments of generated traffic with 2-second
	// windows, 1 in 1 026 with the default minute), two in a row did not
	// (0 in both). The windows must be consecutive. Default 2; between 1
	// (judge single windows) and BaselineWindows.
	RevenueDropWindows int
	// RevenueMinHistory is how many settled windows revenue_drop and
	// revenue_zero need before they judge. Default 5; at most
	// BaselineWindows.
	RevenueMinHistory int
	// ZeroRevenueMinEvents: revenue_zero needs at least this many events
	// in the window. Default 100.
	ZeroRevenueMinEvents int64
	// PaymentFailureRatio: payment_failures / orders above this fires.
	// Default 0.25, in (0, 1].
	PaymentFailureRatio float64
	// PaymentMinOrders: when the window has at least this many orders.
	// Default 20.
	PaymentMinOrders int64

	// StallWindows: pipeline_stall fires when the newest window_end has
	// not advanced for this many window lengths. Default 3.
	StallWindows int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Lookback:             30 * time.Minute,
		WindowSize:           time.Minute,
		BaselineWindows:      15,
		DLQBucket:            time.Minute,
		WarmupBuckets:        2,
		DLQSpikeFloor:        20,
		DLQSpikeMultiple:     3,
		LateFloor:            20,
		LateMultiple:         3,
		RevenueMADK:          4,
		RevenueMinDrop:       0.5,
		RevenueDropWindows:   2,
		RevenueMinHistory:    5,
		ZeroRevenueMinEvents: 100,
		PaymentFailureRatio:  0.25,
		PaymentMinOrders:     20,
		StallWindows:         3,
	}
}

// settle is the effective SettleDelay for a window of the given length.
func (c Config) settle(window time.Duration) time.Duration {
	if c.SettleDelay == 0 {
		return window
	}
	return c.SettleDelay
}

// needed is the history a full baseline and the judged bucket or window
// take: what Lookback must cover.
func (c Config) needed() time.Duration {
	return time.Duration(c.BaselineWindows+c.RevenueDropWindows+1)*max(c.DLQBucket, c.WindowSize) + c.settle(c.WindowSize)
}

// Validate reports every setting that cannot work, each error naming its
// field.
func (c Config) Validate() error {
	var errs []error
	check := func(bad bool, field, format string, args ...any) {
		errs = append(errs, fieldErr(bad, field, format, args...)...)
	}
	check(c.WindowSize <= 0, "WindowSize", "must be positive, got %s", c.WindowSize)
	check(c.SettleDelay < 0, "SettleDelay", "must not be negative, got %s", c.SettleDelay)
	check(c.BaselineWindows < 1, "BaselineWindows", "must be at least 1, got %d", c.BaselineWindows)
	check(c.DLQBucket < time.Second || c.DLQBucket%time.Second != 0, "DLQBucket", "must be a whole number of seconds, got %s", c.DLQBucket)
	check(c.WarmupBuckets < 1 || c.WarmupBuckets > c.BaselineWindows, "WarmupBuckets",
		"must be between 1 and BaselineWindows (%d), got %d", c.BaselineWindows, c.WarmupBuckets)
	check(c.DLQSpikeFloor < 0, "DLQSpikeFloor", "must not be negative, got %d", c.DLQSpikeFloor)
	check(!(c.DLQSpikeMultiple >= 1), "DLQSpikeMultiple", "must be at least 1, got %g", c.DLQSpikeMultiple)
	check(c.LateFloor < 0, "LateFloor", "must not be negative, got %d", c.LateFloor)
	check(!(c.LateMultiple >= 1), "LateMultiple", "must be at least 1, got %g", c.LateMultiple)
	check(!(c.RevenueMADK >= 0), "RevenueMADK", "must not be negative, got %g", c.RevenueMADK)
	check(!(c.RevenueMinDrop >= 0 && c.RevenueMinDrop <= 1), "RevenueMinDrop", "must be between 0 and 1, got %g", c.RevenueMinDrop)
	check(c.RevenueDropWindows < 1 || c.RevenueDropWindows > c.BaselineWindows, "RevenueDropWindows",
		"must be between 1 and BaselineWindows (%d), got %d", c.BaselineWindows, c.RevenueDropWindows)
	check(c.RevenueMinHistory < 1 || c.RevenueMinHistory > c.BaselineWindows, "RevenueMinHistory",
		"must be between 1 and BaselineWindows (%d), got %d", c.BaselineWindows, c.RevenueMinHistory)
	check(c.ZeroRevenueMinEvents < 1, "ZeroRevenueMinEvents", "must be at least 1, got %d", c.ZeroRevenueMinEvents)
	check(!(c.PaymentFailureRatio > 0 && c.PaymentFailureRatio <= 1), "PaymentFailureRatio", "must be in (0, 1], got %g", c.PaymentFailureRatio)
	check(c.PaymentMinOrders < 1, "PaymentMinOrders", "must be at least 1, got %d", c.PaymentMinOrders)
	check(c.StallWindows < 1, "StallWindows", "must be at least 1, got %d", c.StallWindows)
	if len(errs) == 0 {
		check(c.Lookback < c.needed(), "Lookback",
			"%s is shorter than the history the rules use, %s ((BaselineWindows + RevenueDropWindows + 1) × max(DLQBucket, WindowSize) + SettleDelay)", c.Lookback, c.needed())
	}
	return errors.Join(errs...)
}

// fieldErr is one error that names a configuration field ("DLQBucket must
// be ..."), or none when the value is fine.
func fieldErr(bad bool, field, format string, args ...any) []error {
	if !bad {
		return nil
	}
	return []error{fmt.Errorf(field+" "+format, args...)}
}

// Describe states every rule with its numbers, one line each, as the
// dispatcher logs them at start and dispatcher/README.md lists them.
func (c Config) Describe() []string {
	pct := func(f float64) string { return trimFloat(100*f) + " %" }
	return []string{
		fmt.Sprintf("dlq_spike/<malformed|oversized|future_event>: dead letters of one kind (malformed = invalid_json + unsupported_schema + schema_violation; replays and redeliveries not counted) in a %s bucket of dlq.failed_at, as a share of the input processed in it: fires above %d dead letters and %s× the median share of the last %s with traffic; judged after %s",
			short(c.DLQBucket), c.DLQSpikeFloor, trimFloat(c.DLQSpikeMultiple), plural(c.BaselineWindows, "bucket"), plural(c.WarmupBuckets, "such bucket")),
		fmt.Sprintf("late_surge/all: late_event dead letters (events past the allowed lateness, lost unless replayed within the replay retention) in a %s bucket, as a share of the input: fires above %d and %s× the median share of the last %s with traffic; judged after %s",
			short(c.DLQBucket), c.LateFloor, trimFloat(c.LateMultiple), plural(c.BaselineWindows, "bucket"), plural(c.WarmupBuckets, "such bucket")),
		fmt.Sprintf("revenue_drop/<currency>: the revenue of %s below min(median − %s × 1.4826 × MAD, median × %s) of up to %s before them; judged with at least %d of those",
			inARow(c.RevenueDropWindows), trimFloat(c.RevenueMADK), trimFloat(1-c.RevenueMinDrop), plural(c.BaselineWindows, "window"), c.RevenueMinHistory),
		fmt.Sprintf("revenue_zero/all: no revenue in the newest settled window with at least %d events, after sales in a trailing window; judged with at least %s",
			c.ZeroRevenueMinEvents, plural(c.RevenueMinHistory, "trailing window")),
		fmt.Sprintf("payment_failures/all: payment failures above %s of orders in the newest settled window with at least %d orders",
			pct(c.PaymentFailureRatio), c.PaymentMinOrders),
		fmt.Sprintf("pipeline_stall/all: the newest window_end has not advanced for %d window lengths, measured from the Kafka timestamp of its first record; judged once an aggregate exists",
			c.StallWindows),
		fmt.Sprintf("windows settle %s after their first record once every source partition has sent its record (at most %s after it); state rebuilt from the last %s of the topics at start",
			settleText(c.SettleDelay), partialText(c.SettleDelay), short(c.Lookback)),
	}
}

// inARow names the windows revenue_drop judges together.
func inARow(n int) string {
	if n == 1 {
		return "the newest settled window"
	}
	return "each of the newest " + strconv.Itoa(n) + " settled windows"
}

// plural is "1 bucket", "2 buckets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// partialText is how long a window missing a partition's record waits.
func partialText(d time.Duration) string {
	if d == 0 {
		return strconv.Itoa(partialWait) + " window lengths"
	}
	return short(partialWait * d)
}

func settleText(d time.Duration) string {
	if d == 0 {
		return "one window length"
	}
	return short(d)
}
