package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/metrics"
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
