package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/metrics"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/processor"
)

// processorFields maps processor.Config's fields to the processor's flags.
var processorFields = map[string]string{
	"Brokers": "brokers", "Topics.Raw": "raw-topic", "Topics.DLQ": "dlq-topic", "Topics.Agg": "agg-topic",
	"Topics.State": "state-topic", "Group": "group", "CheckpointInterval": "checkpoint-interval",
	"CheckpointEvery": "checkpoint-every", "MaxBatch": "max-batch", "SessionTimeout": "session-timeout",
	"Retry": "connect-timeout",
}

// fieldError keeps an error's chain while its message names flags instead
// of config fields.
type fieldError struct {
	msg string
	err error
}

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return e.err }

// renameFields replaces config field names in an error's message with
// their flags ("MaxBatch must be positive" → "--max-batch (...) must be
// positive").
func renameFields(err error, fields map[string]string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for f, flag := range fields {
		msg = strings.ReplaceAll(msg, f+" ", flagRef(flag)+" ")
		msg = strings.ReplaceAll(msg, "("+f+")", "("+flagRef(flag)+")")
	}
	return &fieldError{msg: msg, err: err}
}

func newProcessorCmd() *cobra.Command {
	var kf kafkaFlags
	var wf windowFlags
	var group, metricsAddr string
	var cpInterval, sessionTimeout, connectTimeout time.Duration
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
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			wcfg, lim, err := wf.config()
			if err != nil {
				return err
			}
			cfg := processor.DefaultConfig()
			cfg.Brokers, cfg.Topics, cfg.Group, cfg.Window, cfg.Limits = brokers, kf.topics, group, wcfg, lim
			cfg.CheckpointInterval, cfg.CheckpointEvery, cfg.MaxBatch = cpInterval, cpEvery, maxBatch
			cfg.FlushOnShutdown, cfg.SessionTimeout = flush, sessionTimeout
			cfg.Retry = retry.DefaultPolicy()
			cfg.Retry.Timeout = connectTimeout
			cfg.Logger = slog.Default()
			reg := metrics.NewRegistry()
			cfg.Metrics = processor.NewMetrics(reg)
			if connectTimeout < 0 {
				return fmt.Errorf("%s %s: must not be negative (0 waits until stopped)", flagRef("connect-timeout"), connectTimeout)
			}
			p, err := processor.New(cfg)
			if err != nil {
				return renameFields(err, processorFields)
			}
			if err := metrics.Serve(cmd.Context(), metricsAddr, reg, p.Healthy); err != nil {
				return fmt.Errorf("--metrics-addr %s: %w", metricsAddr, err)
			}
			return renameFields(p.Run(cmd.Context()), processorFields)
		},
	}
	kf.register(cmd.Flags())
	wf.register(cmd.Flags())
	cmd.Flags().StringVar(&group, "group", d.Group, "consumer group id")
	cmd.Flags().DurationVar(&cpInterval, "checkpoint-interval", d.CheckpointInterval, "checkpoint each partition this often while messages flow")
	cmd.Flags().IntVar(&cpEvery, "checkpoint-every", d.CheckpointEvery, "also checkpoint after this many messages of a partition (0 = by interval only)")
	cmd.Flags().IntVar(&maxBatch, "max-batch", d.MaxBatch, "most messages processed between hand-overs of outputs to the writers")
	cmd.Flags().BoolVar(&flush, "flush-on-shutdown", d.FlushOnShutdown, "emit windows not yet emitted when stopping (contract §6)")
	cmd.Flags().DurationVar(&sessionTimeout, "session-timeout", d.SessionTimeout, "consumer group session timeout (how fast a crashed replica's partitions move)")
	cmd.Flags().DurationVar(&connectTimeout, "connect-timeout", d.Retry.Timeout, "how long to keep retrying while Kafka is not reachable yet at start (0 = until stopped)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", ":9102", "address of /metrics and /healthz (empty to disable)")
	return cmd
}
