package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/streamlab/streamlab/internal/gen"
)

// genFields maps gen.Config's fields to the flags that set them.
var genFields = fieldFlags{
	"Seed": "seed", "Start": "start", "EventsPerSecond": "events-per-second", "Users": "users",
	"Disorder": "disorder-ratio", "AllowedLate": "allowed-late-ratio", "TooLate": "too-late-ratio",
	"Duplicate": "duplicate-ratio", "Malformed": "malformed-ratio", "Oversized": "oversized-ratio",
	"Future": "future-ratio", "Window": "window", "OutOfOrderness": "out-of-orderness",
	"AllowedLateness": "allowed-lateness", "MaxEventBytes": "max-event-bytes", "MaxFuture": "max-future",
	"Skewed": "skewed-ratio",
}

// genFlags configure the synthetic event generator (gen and producer).
type genFlags struct {
	cfg   gen.Config
	start string
}

func (g *genFlags) register(fs *pflag.FlagSet, defaultStart string) {
	d := gen.DefaultConfig()
	g.cfg = d
	fs.Uint64Var(&g.cfg.Seed, "seed", d.Seed, "random seed: the same seed and settings give the same events")
	fs.StringVar(&g.start, "start", defaultStart, `event-time clock start, RFC 3339, or "now" (gen: the log then ends now, so offline processing sees no accidental future events)`)
	fs.Float64Var(&g.cfg.EventsPerSecond, "events-per-second", d.EventsPerSecond, "event-time density: how fast the simulated clock advances per event")
	fs.IntVar(&g.cfg.Users, "users", d.Users, "size of the simulated user population")
	fs.Float64Var(&g.cfg.Disorder, "disorder-ratio", d.Disorder, "share of events out of order within the out-of-orderness bound")
	fs.Float64Var(&g.cfg.AllowedLate, "allowed-late-ratio", d.AllowedLate, "share of events late but within the allowed lateness (upserts)")
	fs.Float64Var(&g.cfg.TooLate, "too-late-ratio", d.TooLate, "share of events later than the allowed lateness (late_event dead letters)")
	fs.Float64Var(&g.cfg.Duplicate, "duplicate-ratio", d.Duplicate, "share of exact redeliveries of recent events")
	fs.Float64Var(&g.cfg.Malformed, "malformed-ratio", d.Malformed, "share of malformed messages (bad JSON, bad fields, ...)")
	fs.Float64Var(&g.cfg.Oversized, "oversized-ratio", d.Oversized, "share of messages over --max-event-bytes")
	fs.Float64Var(&g.cfg.Future, "future-ratio", d.Future, "share of events with a clock far in the future")
	fs.Float64Var(&g.cfg.Skewed, "skewed-ratio", d.Skewed, "share of valid events up to --max-future ahead of their record timestamp (a device clock running fast)")
}

// config merges the window flags the generator uses to place late events.
// span, when positive, is how much event time the whole run covers: "now"
// then means the log ends now rather than starts now.
func (g *genFlags) config(wf *windowFlags, span time.Duration) (gen.Config, error) {
	c := g.cfg
	c.Window, c.OutOfOrderness, c.AllowedLateness, c.MaxEventBytes, c.MaxFuture = wf.size, wf.ooo, wf.lateness, wf.maxEventBytes, wf.maxFuture
	switch g.start {
	case "now":
		c.Start = time.Now().Add(-span).UTC().Truncate(time.Millisecond)
	default:
		t, err := time.Parse(time.RFC3339Nano, g.start)
		if err != nil {
			return c, usagef("%s %q: want an RFC 3339 time or \"now\"", flagRef("start"), g.start)
		}
		c.Start = t.UTC()
	}
	return c, genFields.invalid(c.Validate())
}
