package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/metrics"
	"github.com/streamlab/streamlab/processor"
)

// processorFields maps processor.Config's fields to the processor's flags.
var processorFields = fieldFlags{
	"Brokers": "brokers", "Topics.Raw": "raw-topic", "Topics.DLQ": "dlq-topic", "Topics.Agg": "agg-topic",
	"Topics.State": "state-topic", "Group": "group", "CheckpointInterval": "checkpoint-interval",
	"CheckpointEvery": "checkpoint-every", "MaxBatch": "max-batch", "SessionTimeout": "session-timeout",
	"Limits.MaxEventBytes": "max-event-bytes", "Limits.MaxFutureMs": "max-future",
}

func newProcessorCmd() *cobra.Command {
	var kf kafkaFlags
	var cf connectFlags
	var wf windowFlags
	var group, metricsAddr string
	var cpInterval, sessionTimeout time.Duration
	var cpEvery, maxBatch int
	var flush bool
	d := processor.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "processor",
		Short: "Consume the raw topic, aggregate windows, write aggregates and dead letters",
		Long: `Processor joins a consumer group on the raw topic and runs one window engine
per assigned partition. It checkpoints each partition's engine state together
with its input offset to the state topic after the outputs are acknowledged, so
a crash, restart or rebalance resumes exactly and re-emits identical records.
It waits up to --connect-timeout for the broker; a missing topic, a state topic
holding another group's checkpoints or window settings that differ from the
checkpoints stop it at once with a message saying what to fix.
On SIGINT/SIGTERM it stops fetching, flushes open windows (--flush-on-shutdown),
checkpoints, commits and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, policy, err := kafkaConnection(&kf, &cf)
			if err != nil {
				return err
			}
			wcfg, lim, err := wf.config()
			if err != nil {
				return err
			}
			reg := metrics.NewRegistry()
			cfg := processor.DefaultConfig()
			cfg.Brokers, cfg.Topics, cfg.Group, cfg.Window, cfg.Limits = brokers, kf.topics, group, wcfg, lim
			cfg.CheckpointInterval, cfg.CheckpointEvery, cfg.MaxBatch = cpInterval, cpEvery, maxBatch
			cfg.FlushOnShutdown, cfg.SessionTimeout, cfg.Retry = flush, sessionTimeout, policy
			cfg.Logger, cfg.Metrics = slog.Default(), processor.NewMetrics(reg)
			if err := processorFields.invalid(cfg.Validate()); err != nil {
				return err
			}
			p, err := processor.New(cfg)
			if err != nil {
				return err
			}
			if err := metrics.Serve(cmd.Context(), metricsAddr, reg, p.Healthy); err != nil {
				return fmt.Errorf("%s %s: %w", flagRef("metrics-addr"), metricsAddr, err)
			}
			return kf.explain(processorFix(p.Run(cmd.Context())))
		},
	}
	kf.register(cmd.Flags())
	hide(cmd.Flags(), "alerts-topic", "replays-topic")
	cf.register(cmd.Flags(), "Kafka")
	wf.register(cmd.Flags())
	cmd.Flags().StringVar(&group, "group", d.Group, "consumer group id")
	cmd.Flags().DurationVar(&cpInterval, "checkpoint-interval", d.CheckpointInterval, "checkpoint each partition this often while messages flow")
	cmd.Flags().IntVar(&cpEvery, "checkpoint-every", d.CheckpointEvery, "also checkpoint a partition after this many messages (0 = by interval only)")
	cmd.Flags().IntVar(&maxBatch, "max-batch", d.MaxBatch, "most messages processed between hand-overs of outputs to the writers")
	cmd.Flags().BoolVar(&flush, "flush-on-shutdown", d.FlushOnShutdown, "emit windows not yet emitted when stopping (contract §6)")
	cmd.Flags().DurationVar(&sessionTimeout, "session-timeout", d.SessionTimeout, "consumer group session timeout (how fast a crashed replica's partitions move)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", ":9102", "address of /metrics and /healthz (empty to disable)")
	return cmd
}

// processorFix names flags instead of config fields in the processor's
// runtime errors (a missing topic names the field that named it) and keeps
// them runtime failures (exit 1): the command line was valid.
func processorFix(err error) error {
	if err == nil {
		return nil
	}
	if msg := processorFields.rename(err.Error()); msg != err.Error() {
		return &renamedError{msg: msg, err: err}
	}
	return err
}

// renamedError is err with flags in place of field names in its text.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
