package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamlab/streamlab/dlq"
)

// dlqFilterFlags select dead letters; shared by ls, stats and replay.
type dlqFilterFlags struct {
	reasons             []string
	since, until, parts string
	limit               int
}

func (f *dlqFilterFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.reasons, "reason", nil, "only these reasons (repeat or comma-separate): oversized, invalid_json, unsupported_schema, schema_violation, future_event, late_event")
	fs.StringVar(&f.since, "since", "", "only dead letters that failed at or after this time (RFC 3339, or a duration back from now like 1h)")
	fs.StringVar(&f.until, "until", "", "only dead letters that failed before this time (RFC 3339 or a duration back from now)")
	fs.StringVar(&f.parts, "partition", "", "only these source partitions, e.g. 0,2")
	fs.IntVar(&f.limit, "limit", 0, "at most this many, oldest first (0 = all)")
}

func (f *dlqFilterFlags) filter(now time.Time) (dlq.Filter, error) {
	var err error
	out := dlq.Filter{Reasons: f.reasons, Limit: f.limit}
	if out.Since, err = dlq.ParseTime(f.since, now); err != nil {
		return out, fmt.Errorf("--since: %w", err)
	}
	if out.Until, err = dlq.ParseTime(f.until, now); err != nil {
		return out, fmt.Errorf("--until: %w", err)
	}
	if out.Partitions, err = dlq.ParsePartitions(f.parts); err != nil {
		return out, err
	}
	return out, out.Validate()
}

// selectEntries reads the DLQ and applies the filter flags.
func selectEntries(cmd *cobra.Command, kf *kafkaFlags, ff *dlqFilterFlags) ([]dlq.Entry, error) {
	brokers, err := kf.brokerList()
	if err != nil {
		return nil, err
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return nil, err
	}
	entries, err := dlq.Read(cmd.Context(), brokers, kf.topics)
	if err != nil {
		return nil, err
	}
	return f.Apply(entries), nil
}

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "List, summarise and replay dead letters"}
	cmd.AddCommand(newDLQLsCmd(), newDLQStatsCmd(), newDLQReplayCmd())
	return cmd
}

func newDLQLsCmd() *cobra.Command {
	var kf kafkaFlags
	var ff dlqFilterFlags
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List dead letters: source, reason, error, event time, replays, value",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			entries, err := selectEntries(cmd, &kf, &ff)
			if err != nil {
				return err
			}
			if output == "json" {
				return dlq.RenderJSON(cmd.OutOrStdout(), entries)
			}
			return dlq.RenderTable(cmd.OutOrStdout(), entries)
		},
	}
	kf.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json (one object per line)")
	return cmd
}

func newDLQStatsCmd() *cobra.Command {
	var kf kafkaFlags
	var ff dlqFilterFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count dead letters by reason and by hour; oldest, newest, replayed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := selectEntries(cmd, &kf, &ff)
			if err != nil {
				return err
			}
			return dlq.Summarise(entries).Render(cmd.OutOrStdout())
		},
	}
	kf.register(cmd.Flags())
	ff.register(cmd.Flags())
	return cmd
}

func newDLQReplayCmd() *cobra.Command {
	var kf kafkaFlags
	var ff dlqFilterFlags
	var dry, force, quiet bool
	var rate float64
	var maxReplays int
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Put dead letters back on the raw topic, unchanged, through the same pipeline",
		Long: `Replay writes the selected dead letters' original key and value, byte for byte,
back to the raw topic with headers carrying the replay count and the original
coordinates. The processor lets a replayed event update a window kept for replay
(--replay-retention) as an upsert, deduplicated by event_id, so replaying late
dead letters makes their contribution visible exactly once; replaying the same
range again changes nothing (the ledger skips it, and the processor ignores
replayed duplicates). A replay that fails again returns to the DLQ with its
replay count + 1 and is skipped once it reaches --max-replays.`,
		Example: `  streamlab dlq replay --reason late_event --since 1h --dry-run
  streamlab dlq replay --reason late_event --since 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			f, err := ff.filter(time.Now())
			if err != nil {
				return err
			}
			if rate < 0 {
				return fmt.Errorf("--rate %v: must not be negative", rate)
			}
			cfg := dlq.ReplayConfig{Brokers: brokers, Topics: kf.topics, Filter: f, MaxReplays: maxReplays,
				Rate: rate, DryRun: dry, Force: force}
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			sum, err := dlq.Replay(cmd.Context(), cfg)
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return err
		},
	}
	kf.register(cmd.Flags())
	ff.register(cmd.Flags())
	cmd.Flags().BoolVar(&dry, "dry-run", false, "show what would be replayed, write nothing")
	cmd.Flags().BoolVar(&force, "force", false, "replay also what the ledger marks as already replayed")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().Float64Var(&rate, "rate", 0, "messages per second (0 = as fast as possible)")
	cmd.Flags().IntVar(&maxReplays, "max-replays", 3, "skip dead letters that already failed this many replays")
	return cmd
}
