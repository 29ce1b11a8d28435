package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/streamlab/streamlab/chaos"
	"github.com/streamlab/streamlab/demo"
)

// isTerminal reports whether f is an interactive terminal. A character
// device is not enough: /dev/null is one.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// demoFields names the flags behind demo.Config's fields in its errors.
var demoFields = fieldFlags{"Duration": "duration", "Rate": "rate", "Partitions": "partitions", "Refresh": "refresh"}

func newDemoCmd() *cobra.Command {
	var wf windowFlags
	var duration, refresh time.Duration
	var rate float64
	var partitions int
	var schedule, webhook, apiBase string
	var seed uint64
	d := demo.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in one process with an embedded Kafka, live in the terminal",
		Long: `Demo starts an embedded Kafka (franz-go's kfake on loopback) and runs the
producer, the processor and the dispatcher against it exactly as docker-compose
does, with a live view (80 columns): each partition's watermark, each window's
state (open, emitted, final) and numbers, G1 (produced = counted + duplicates +
dead letters, with what is still in flight), revenue in major units, dead
letters by reason, chaos bursts and alerts. Chaos bursts (--chaos) show the DLQ
jump and an alert fire; in a terminal, type m, l, d, f, o or s + Enter for more
bursts, q to quit. When stdout is not a terminal, frames are printed one after
another. No network and no Docker needed; Ctrl-C, q or --duration ends it: the
processor catches up, flushes, and a summary checks G1 on the output topics.`,
		Example: `  streamlab demo
  streamlab demo --duration 30s --chaos 5s:malformed:400,12s:late:300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wcfg, lim, err := wf.config()
			if err != nil {
				return err
			}
			bursts, err := demo.ParseSchedule(schedule)
			if err != nil {
				return usagef("%s: %w", flagRef("chaos"), err)
			}
			// Zero means "default" in demo.Config; on the command line it is
			// a mistake, never silently replaced.
			var errs []error
			if rate <= 0 {
				errs = append(errs, fmt.Errorf("%s %v: must be positive", flagRef("rate"), rate))
			}
			if partitions < 1 {
				errs = append(errs, fmt.Errorf("%s %d: must be at least 1", flagRef("partitions"), partitions))
			}
			if refresh <= 0 {
				errs = append(errs, fmt.Errorf("%s %s: must be positive", flagRef("refresh"), refresh))
			}
			if err := usageErr(errors.Join(errs...)); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			terminal := isTerminal(out)
			var keys io.Reader
			if isTerminal(cmd.InOrStdin()) {
				keys = cmd.InOrStdin()
			}
			logger := slog.Default()
			if terminal {
				// Info lines would scroll the view away between two frames;
				// warnings and errors are worth that.
				logger = slog.New(minLevel{logger.Handler(), slog.LevelWarn})
			}
			cfg := demo.Config{Duration: duration, Rate: rate, Partitions: partitions,
				Window: wcfg, Limits: lim, Chaos: bursts, WebhookURL: webhook, APIBase: apiBase,
				Refresh: refresh, Terminal: terminal, Out: out, Seed: seed, Keys: keys, Logger: logger}
			if err := demoFields.invalid(cfg.Validate()); err != nil {
				return err
			}
			_, err = demo.Run(cmd.Context(), cfg)
			return err
		},
	}
	wf.registerDefaults(cmd.Flags(), d.Window, d.Limits)
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long and print a summary (0 = until Ctrl-C or q)")
	cmd.Flags().DurationVar(&refresh, "refresh", d.Refresh, "how often the view is redrawn")
	cmd.Flags().Float64Var(&rate, "rate", d.Rate, "producer messages per second")
	cmd.Flags().IntVar(&partitions, "partitions", d.Partitions, "partitions of the embedded topics")
	cmd.Flags().StringVar(&schedule, "chaos", demo.DefaultSchedule, "chaos bursts AT:KIND:COUNT, comma-separated (kinds: "+strings.Join(chaos.Kinds(), ", ")+")")
	cmd.Flags().StringVar(&webhook, "discord-webhook-url", "", "optional Discord webhook URL (a secret); without it alerts show only here")
	cmd.Flags().StringVar(&apiBase, "discord-api-base", "", "send Discord calls to this base URL instead (a local stand-in)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed")
	return cmd
}

// minLevel drops records below min from the handler it wraps.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
