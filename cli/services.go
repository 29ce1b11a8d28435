package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/metrics"
	"github.com/streamlab/streamlab/processor"
	"github.com/streamlab/streamlab/producer"
)

func newProducerCmd() *cobra.Command {
	var kf kafkaFlags
	var wf windowFlags
	var gf genFlags
	var rate float64
	var count int64
	var duration time.Duration
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "producer",
		Short: "Write synthetic clickstream and order events to the raw topic",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			gcfg, err := gf.config(&wf, 0)
			if err != nil {
				return err
			}
			reg := metrics.NewRegistry()
			m := producer.NewMetrics(reg)
			if err := metrics.Serve(cmd.Context(), metricsAddr, reg, nil); err != nil {
				return fmt.Errorf("--metrics-addr %s: %w", metricsAddr, err)
			}
			st, err := producer.Run(cmd.Context(), producer.Config{Brokers: brokers, Topic: kf.topics.Raw, Gen: gcfg,
				Rate: rate, Count: count, Duration: duration, Metrics: m})
			if st != nil {
				slog.Info(st.Summary())
			}
			return err
		},
	}
	kf.register(cmd.Flags())
	wf.register(cmd.Flags())
	gf.register(cmd.Flags(), "now")
	cmd.Flags().Float64Var(&rate, "rate", 200, "messages per second (0 = as fast as possible)")
	cmd.Flags().Int64Var(&count, "count", 0, "stop after this many messages (0 = no limit)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0 = no limit)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", ":9101", "address of /metrics and /healthz (empty to disable)")
	return cmd
}

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
