package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/demo"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/window"
)

// isTerminal reports whether f is an interactive terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newDemoCmd() *cobra.Command {
	var wf windowFlags
	var duration, refresh time.Duration
	var rate float64
	var partitions int
	var schedule, webhook, apiBase string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in one process with an embedded Kafka, live in the terminal",
		Long: `Demo starts an embedded Kafka (franz-go's kfake on loopback) and runs the
producer, the processor and the dispatcher against it exactly as docker-compose
does, with a live view of windows and their revisions, dead letters by reason,
alerts and throughput. Chaos bursts (--chaos) show the DLQ jump and an alert
fire; in a terminal, type m, l, d, f or o + Enter for more bursts, q to quit.
No network and no Docker needed; Ctrl-C, q or --duration ends it with a summary.`,
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
				return err
			}
			if rate <= 0 {
				return fmt.Errorf("--rate %v: must be positive", rate)
			}
			out := cmd.OutOrStdout()
			clear := isTerminal(out)
			var keys io.Reader
			if isTerminal(cmd.InOrStdin()) {
				keys = cmd.InOrStdin()
			}
			return demo.Run(cmd.Context(), demo.Config{Duration: duration, Rate: rate, Partitions: partitions,
				Window: wcfg, Limits: lim, Chaos: bursts, WebhookURL: webhook, APIBase: apiBase,
				Refresh: refresh, Clear: clear, Out: out, Seed: seed, Keys: keys})
		},
	}
	wf.registerDefaults(cmd.Flags(), window.Config{SizeMs: 10_000, OutOfOrdernessMs: 2_000, AllowedLatenessMs: 20_000, ReplayRetentionMs: 120_000}, event.DefaultLimits())
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long and print a summary (0 = until Ctrl-C)")
	cmd.Flags().DurationVar(&refresh, "refresh", time.Second, "how often the view is redrawn")
	cmd.Flags().Float64Var(&rate, "rate", 400, "producer messages per second")
	cmd.Flags().IntVar(&partitions, "partitions", 3, "partitions of the embedded topics")
	cmd.Flags().StringVar(&schedule, "chaos", "6s:malformed:300,12s:late:200", "chaos bursts AT:KIND:COUNT, comma-separated (kinds: malformed, late, duplicate, future, oversized)")
	cmd.Flags().StringVar(&webhook, "discord-webhook-url", "", "optional Discord webhook URL (a secret); without it alerts show only here")
	cmd.Flags().StringVar(&apiBase, "discord-api-base", "", "send Discord calls to this base URL instead (a local stand-in)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed")
	return cmd
}
