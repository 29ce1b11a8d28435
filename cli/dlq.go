package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamlab/streamlab/dlq"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/retry"
)

// dlqFlags select dead letters and say where they are; shared by ls, stats
// and replay.
type dlqFlags struct {
	kf                  kafkaFlags
	connectTimeout      time.Duration
	reasons             []string
	since, until, parts string
	limit               int
}

func (f *dlqFlags) register(fs *pflag.FlagSet, limit int, limitHelp string) {
	f.kf.register(fs)
	fs.DurationVar(&f.connectTimeout, "connect-timeout", retry.DefaultPolicy().Timeout, "how long to wait for a broker that is not up yet or partitions without a leader yet (a missing topic is not waited for)")
	fs.StringSliceVar(&f.reasons, "reason", nil, "only these reasons (repeat or comma-separate): oversized, invalid_json, unsupported_schema, schema_violation, future_event, late_event")
	fs.StringVar(&f.since, "since", "", "only dead letters that failed at or after this time (RFC 3339, or a duration back from now like 1h)")
	fs.StringVar(&f.until, "until", "", "only dead letters that failed before this time (RFC 3339 or a duration back from now)")
	fs.StringVar(&f.parts, "partition", "", "only these source partitions, e.g. 0,2")
	fs.IntVar(&f.limit, "limit", limit, limitHelp)
}

// usage marks a bad flag value: exit status 2.
func usage(err error) error { return &exitError{code: 2, err: err} }

// config checks the flags, naming each bad one, and builds the source and
// filter.
func (f *dlqFlags) config(now time.Time) (dlq.Source, dlq.Filter, error) {
	var errs []error
	brokers, err := f.kf.brokerList()
	if err != nil {
		errs = append(errs, err)
	}
	// dlq.Source reads a zero ConnectTimeout as its default (3m), so 0 is
	// refused here rather than silently waiting 3 minutes.
	if f.connectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%s %s: must be positive", flagRef("connect-timeout"), f.connectTimeout))
	}
	for _, r := range f.reasons {
		if !slices.Contains(event.Reasons(), event.Reason(r)) {
			errs = append(errs, fmt.Errorf("%s %q: want one of %v", flagRef("reason"), r, event.Reasons()))
		}
	}
	filter := dlq.Filter{Reasons: f.reasons, Limit: f.limit}
	if filter.Since, err = dlq.ParseTime(f.since, now); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", flagRef("since"), err))
	}
	if filter.Until, err = dlq.ParseTime(f.until, now); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", flagRef("until"), err))
	}
	if !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Until.After(filter.Since) {
		errs = append(errs, fmt.Errorf("%s is not after %s", flagRef("until"), flagRef("since")))
	}
	if filter.Partitions, err = dlq.ParsePartitions(f.parts); err != nil {
		errs = append(errs, fmt.Errorf("%s %w", flagRef("partition"), err))
	}
	if f.limit < 0 {
		errs = append(errs, fmt.Errorf("%s %d: must not be negative", flagRef("limit"), f.limit))
	}
	src := dlq.Source{Brokers: brokers, Topics: f.kf.topics, ConnectTimeout: f.connectTimeout, Log: slog.Default()}
	if err := errors.Join(errs...); err != nil {
		return src, filter, usage(err)
	}
	return src, filter, nil
}

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "List, summarise and replay dead letters"}
	cmd.AddCommand(newDLQLsCmd(), newDLQStatsCmd(), newDLQReplayCmd())
	return cmd
}

func newDLQLsCmd() *cobra.Command {
	var f dlqFlags
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List dead letters: source, reason, event time, replays, value and the whole error",
		Long: `Ls lists the newest dead letters that match the filters (--limit, 100 by
default; 0 lists all), oldest first. A null value shows as (null), an empty one
as (empty); a value cut to fit the DLQ topic shows its original size.
--output json gives one object per line with the key, value and the record's
own headers in base64 (null as JSON null).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usage(fmt.Errorf("%s %q: want table or json", flagRef("output"), output))
			}
			src, filter, err := f.config(time.Now())
			if err != nil {
				return err
			}
			filter.Newest = true
			entries, err := dlq.Read(cmd.Context(), src)
			if err != nil {
				return err
			}
			kept, matched := filter.Apply(entries)
			l := dlq.Listing{Entries: kept, Matched: matched, Newest: true}
			if output == "json" {
				return l.RenderJSON(cmd.OutOrStdout())
			}
			if err := l.RenderTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			if l.Limited() {
				fmt.Fprintln(cmd.OutOrStdout(), "(--limit 0 lists all of them)")
			}
			return nil
		},
	}
	f.register(cmd.Flags(), 100, "show at most this many, the newest (0 = all)")
	hide(cmd.Flags(), "raw-topic", "agg-topic", "alerts-topic", "state-topic")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json (one object per line)")
	return cmd
}

func newDLQStatsCmd() *cobra.Command {
	var f dlqFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count dead letters by reason and by hour; oldest, newest, replayed, truncated",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, filter, err := f.config(time.Now())
			if err != nil {
				return err
			}
			entries, err := dlq.Read(cmd.Context(), src)
			if err != nil {
				return err
			}
			kept, _ := filter.Apply(entries)
			return dlq.Summarise(kept).Render(cmd.OutOrStdout())
		},
	}
	f.register(cmd.Flags(), 0, "count at most this many, the oldest (0 = all)")
	hide(cmd.Flags(), "raw-topic", "agg-topic", "alerts-topic", "state-topic")
	return cmd
}

func newDLQReplayCmd() *cobra.Command {
	var f dlqFlags
	var dry, force, quiet bool
	var rate float64
	var maxReplays int
	var group string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Put dead letters back on the raw topic, unchanged, into their source partitions",
		Long: `Replay writes the selected dead letters' original key, value and headers, byte
for byte (null stays null, empty stays empty), back to the raw topic, each into
its source partition (never by hashing the key: a user must stay in one
partition), with headers carrying the replay count and the original
coordinates. It refuses dead letters from a partition the raw topic no longer
has, skips copies of one dead letter (a processor crash re-emits them) and
refuses letters whose value was cut to fit the DLQ topic.

The processor lets a replayed event update a window kept for replay
(--replay-retention) as an upsert, deduplicated by event_id, so replaying late
dead letters makes their contribution visible exactly once; replaying the same
range again changes nothing (the ledger skips it, and the processor ignores
replayed duplicates). A replay that fails again returns to the DLQ with its
replay count + 1 and is skipped once it reaches --max-replays.

--dry-run shows what would be replayed by reason, source partition and window,
and which letters are past the replay horizon (read from the processor group's
newest checkpoints): those come back as late_event. --wait follows the
replayed records through the processor (its committed offsets and the DLQ)
and reports how many healed and how many came back, by reason.`,
		Example: `  streamlab dlq replay --reason late_event --since 1h --dry-run
  streamlab dlq replay --reason late_event --since 1h --wait 2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, filter, err := f.config(time.Now())
			var errs []error
			if err != nil {
				errs = append(errs, err)
			}
			if rate < 0 {
				errs = append(errs, fmt.Errorf("%s %v: must not be negative", flagRef("rate"), rate))
			}
			if maxReplays < 1 {
				errs = append(errs, fmt.Errorf("%s %d: must be at least 1", flagRef("max-replays"), maxReplays))
			}
			if wait < 0 {
				errs = append(errs, fmt.Errorf("%s %s: must not be negative", flagRef("wait"), wait))
			}
			if wait > 0 && dry {
				errs = append(errs, fmt.Errorf("%s and %s exclude each other: a dry run writes nothing to wait for", flagRef("wait"), flagRef("dry-run")))
			}
			if group == "" {
				errs = append(errs, fmt.Errorf("%s: must not be empty", flagRef("group")))
			}
			if len(errs) > 0 {
				return usage(errors.Join(errs...))
			}
			cfg := dlq.ReplayConfig{Source: src, Filter: filter, MaxReplays: maxReplays, Rate: rate, DryRun: dry,
				Force: force, Group: group, Wait: wait}
			// A progress bar redraws one line with \r: in a log file or a
			// pipe that is noise, so only a terminal gets it.
			if !quiet && isTerminal(cmd.ErrOrStderr()) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			rep, err := dlq.Replay(cmd.Context(), cfg)
			if rep != nil {
				if rerr := rep.Render(cmd.OutOrStdout()); rerr != nil && err == nil {
					err = rerr
				}
			}
			if errors.Is(err, dlq.ErrStillPending) {
				err = fmt.Errorf("%w (a longer %s waits more)", err, flagRef("wait"))
			}
			return err
		},
	}
	f.register(cmd.Flags(), 0, "replay at most this many, the oldest first (0 = all)")
	hide(cmd.Flags(), "agg-topic", "alerts-topic")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "show what would be replayed, by reason, partition and window, and what is past the replay horizon; write nothing")
	cmd.Flags().BoolVar(&force, "force", false, "replay also what the ledger marks as already replayed")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar (there is none when stderr is not a terminal)")
	cmd.Flags().Float64Var(&rate, "rate", 0, "messages per second (0 = as fast as possible)")
	cmd.Flags().IntVar(&maxReplays, "max-replays", 3, "skip dead letters that already failed this many replays")
	cmd.Flags().StringVar(&group, "group", dlq.DefaultGroup, "the processor's consumer group: its checkpoints give the replay horizon, its committed offsets tell --wait how far it got")
	cmd.Flags().DurationVar(&wait, "wait", 0, "follow the replayed records through the processor for at most this long, e.g. 2m, and report healed vs back in the DLQ by reason (0 = do not follow)")
	return cmd
}
