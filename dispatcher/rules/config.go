package rules

import (
	"errors"
	"fmt"
	"time"
)

// Config holds every threshold. A zero field means "use the default" (see
// DefaultConfig), so callers can override one knob and leave the rest.
//
// Defaults and why:
//
//	WindowSize           1m    the processor's default; replaced by what the records say
//	SettleDelay          0     = one window length after the window first appears
//	BaselineWindows      15    trailing windows/buckets that form a baseline
//	DLQBucket            1m    dead letters are counted per minute of dlq.failed_at
//	DLQSpikeFloor        20    a spike needs more than 20 dead letters of one reason per bucket...
//	DLQSpikeMultiple     3     ...and more than 3× the trailing median for that reason
//	RevenueMADK          4     lower band = median − 4 × 1.4826 × MAD (≈ 4 σ for normal noise)
//	RevenueMinDrop       0.5   and at least 50 % below the median (guards MAD = 0)
//	RevenueMinHistory    5     settled windows needed before revenue_drop gives a verdict
//	ZeroRevenueMinEvents 100   revenue_zero needs this much traffic in the window
//	PaymentFailureRatio  0.25  payment_failures / orders above this fires...
//	PaymentMinOrders     20    ...when the window has at least this many orders
//	LateFloor            50    late events (late_accepted + late_event DLQ) per window above this...
//	LateMultiple         3     ...and above 3× the trailing median
//	StallWindows         3     no advance of the newest window_end for 3 window lengths
type Config struct {
	WindowSize           time.Duration
	SettleDelay          time.Duration
	BaselineWindows      int
	DLQBucket            time.Duration
	DLQSpikeFloor        int64
	DLQSpikeMultiple     float64
	RevenueMADK          float64
	RevenueMinDrop       float64
	RevenueMinHistory    int
	ZeroRevenueMinEvents int64
	PaymentFailureRatio  float64
	PaymentMinOrders     int64
	LateFloor            int64
	LateMultiple         float64
	StallWindows         int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		WindowSize:           time.Minute,
		BaselineWindows:      15,
		DLQBucket:            time.Minute,
		DLQSpikeFloor:        20,
		DLQSpikeMultiple:     3,
		RevenueMADK:          4,
		RevenueMinDrop:       0.5,
		RevenueMinHistory:    5,
		ZeroRevenueMinEvents: 100,
		PaymentFailureRatio:  0.25,
		PaymentMinOrders:     20,
		LateFloor:            50,
		LateMultiple:         3,
		StallWindows:         3,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	setDur(&c.WindowSize, d.WindowSize)
	setDur(&c.DLQBucket, d.DLQBucket)
	setInt(&c.BaselineWindows, d.BaselineWindows)
	setInt(&c.RevenueMinHistory, d.RevenueMinHistory)
	setInt(&c.StallWindows, d.StallWindows)
	setI64(&c.DLQSpikeFloor, d.DLQSpikeFloor)
	setI64(&c.ZeroRevenueMinEvents, d.ZeroRevenueMinEvents)
	setI64(&c.PaymentMinOrders, d.PaymentMinOrders)
	setI64(&c.LateFloor, d.LateFloor)
	setF64(&c.DLQSpikeMultiple, d.DLQSpikeMultiple)
	setF64(&c.RevenueMADK, d.RevenueMADK)
	setF64(&c.RevenueMinDrop, d.RevenueMinDrop)
	setF64(&c.PaymentFailureRatio, d.PaymentFailureRatio)
	setF64(&c.LateMultiple, d.LateMultiple)
	return c
}

// Validate reports settings that cannot work, naming the field to fix.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, bad bool) {
		if bad {
			errs = append(errs, fmt.Errorf("rules: %s must not be negative", name))
		}
	}
	neg("WindowSize", c.WindowSize < 0)
	neg("SettleDelay", c.SettleDelay < 0)
	neg("BaselineWindows", c.BaselineWindows < 0)
	neg("DLQBucket", c.DLQBucket < 0)
	neg("DLQSpikeFloor", c.DLQSpikeFloor < 0)
	neg("DLQSpikeMultiple", c.DLQSpikeMultiple < 0)
	neg("RevenueMADK", c.RevenueMADK < 0)
	neg("RevenueMinHistory", c.RevenueMinHistory < 0)
	neg("ZeroRevenueMinEvents", c.ZeroRevenueMinEvents < 0)
	neg("PaymentFailureRatio", c.PaymentFailureRatio < 0)
	neg("PaymentMinOrders", c.PaymentMinOrders < 0)
	neg("LateFloor", c.LateFloor < 0)
	neg("LateMultiple", c.LateMultiple < 0)
	neg("StallWindows", c.StallWindows < 0)
	if c.RevenueMinDrop < 0 || c.RevenueMinDrop > 1 {
		errs = append(errs, errors.New("rules: RevenueMinDrop must be between 0 and 1"))
	}
	if c.DLQBucket > 0 && c.DLQBucket%time.Second != 0 {
		errs = append(errs, errors.New("rules: DLQBucket must be a whole number of seconds"))
	}
	if c.BaselineWindows > 0 && c.RevenueMinHistory > c.BaselineWindows {
		errs = append(errs, fmt.Errorf("rules: RevenueMinHistory (%d) must not exceed BaselineWindows (%d)", c.RevenueMinHistory, c.BaselineWindows))
	}
	return errors.Join(errs...)
}

func setDur(p *time.Duration, d time.Duration) {
	if *p == 0 {
		*p = d
	}
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

func setI64(p *int64, d int64) {
	if *p == 0 {
		*p = d
	}
}

func setF64(p *float64, d float64) {
	if *p == 0 {
		*p = d
	}
}
