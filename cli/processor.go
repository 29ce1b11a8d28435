package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/metrics"
	"github.com/streamlab/streamlab/processor"
)

func newProcessorCmd() *cobra.Command {
	var kf kafkaFlags
	var wf windowFlags
	var group, metricsAddr string
	var cpInterval, sessionTimeout time.Duration
	var cpEvery, maxBatch int
	var flush bool
	cmd := &cobra.Command{
		Use:   "processor",
		Short: "Consume the raw topic, aggregate windows, write aggregates and dead letters",
		Long: `Processor joins a consumer group on the raw topic and runs one window engine
per assigned partition. It checkpoints each partition's engine state together
with its input offset to the state topic after the outputs are acknowledged, so
a crash, restart or rebalance resumes exactly and re-emits identical records.
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
			reg := metrics.NewRegistry()
			p, err := processor.New(processor.Config{Brokers: brokers, Topics: kf.topics, Group: group, Window: wcfg, Limits: lim,
				CheckpointInterval: cpInterval, CheckpointEvery: cpEvery, MaxBatch: maxBatch, FlushOnShutdown: flush,
				SessionTimeout: sessionTimeout, Metrics: processor.NewMetrics(reg)})
			if err != nil {
				return err
			}
			if err := metrics.Serve(cmd.Context(), metricsAddr, reg, p.Healthy); err != nil {
				return fmt.Errorf("--metrics-addr %s: %w", metricsAddr, err)
			}
			return p.Run(cmd.Context())
		},
	}
	kf.register(cmd.Flags())
	wf.register(cmd.Flags())
	cmd.Flags().StringVar(&group, "group", "streamlab-processor", "consumer group id")
	cmd.Flags().DurationVar(&cpInterval, "checkpoint-interval", 5*time.Second, "checkpoint at least this often while messages flow")
	cmd.Flags().IntVar(&cpEvery, "checkpoint-every", 20000, "checkpoint at least every this many messages")
	cmd.Flags().IntVar(&maxBatch, "max-batch", 2000, "messages processed between output flushes")
	cmd.Flags().BoolVar(&flush, "flush-on-shutdown", true, "emit windows not yet emitted when stopping (contract §6)")
	cmd.Flags().DurationVar(&sessionTimeout, "session-timeout", 10*time.Second, "consumer group session timeout (how fast a crashed replica's partitions move)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", ":9102", "address of /metrics and /healthz (empty to disable)")
	return cmd
}
