package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/metrics"
	"github.com/streamlab/streamlab/producer"
)

// producerFields maps producer.Config's fields to the producer's flags.
var producerFields = fieldFlags{"Brokers": "brokers", "Topic": "raw-topic", "Rate": "rate", "Count": "count", "Duration": "duration"}

func newProducerCmd() *cobra.Command {
	var kf kafkaFlags
	var cf connectFlags
	var wf windowFlags
	var gf genFlags
	var rate float64
	var count int64
	var duration time.Duration
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "producer",
		Short: "Write synthetic clickstream and order events to the raw topic",
		Long: `Producer writes the generator's events to the raw topic, keyed by user_id, each
record stamped with the simulated event clock. With --rate the clock follows the
wall clock; --start sets where it begins. It waits up to --connect-timeout for
the broker, stops at once when the raw topic is missing, and refuses to start
when the topic's retention would delete the records as they are written (an old
--start on a topic with the default 7-day retention).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, policy, err := kafkaConnection(&kf, &cf)
			if err != nil {
				return err
			}
			gcfg, err := gf.config(&wf, 0)
			if err != nil {
				return err
			}
			if rate > 0 && (cmd.Flags().Changed("events-per-second") || os.Getenv(EnvName("events-per-second")) != "") {
				return usagef("%s applies only with %s 0: with a rate the event clock follows the wall clock", flagRef("events-per-second"), flagRef("rate"))
			}
			reg := metrics.NewRegistry()
			cfg := producer.Config{Brokers: brokers, Topic: kf.topics.Raw, Gen: gcfg, Rate: rate, Count: count, Duration: duration,
				Retry: policy, Logger: slog.Default(), Metrics: producer.NewMetrics(reg)}
			if err := producerFields.invalid(cfg.Validate()); err != nil {
				return err
			}
			if err := metrics.Serve(cmd.Context(), metricsAddr, reg, nil); err != nil {
				return fmt.Errorf("%s %s: %w", flagRef("metrics-addr"), metricsAddr, err)
			}
			st, err := producer.Run(cmd.Context(), cfg)
			if st != nil && st.Total > 0 || err == nil {
				slog.Info(st.Summary())
			}
			return kf.explain(producerFix(err, &kf))
		},
	}
	kf.register(cmd.Flags())
	cf.register(cmd.Flags(), "Kafka")
	wf.register(cmd.Flags())
	gf.register(cmd.Flags(), "now")
	hide(cmd.Flags(), "dlq-topic", "agg-topic", "alerts-topic", "state-topic", "replays-topic")
	hide(cmd.Flags(), unusedByGenerator...)
	cmd.Flags().Float64Var(&rate, "rate", 200, "messages per second (0 = as fast as possible)")
	cmd.Flags().Int64Var(&count, "count", 0, "stop after this many messages (0 = no limit)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0 = no limit)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", ":9101", "address of /metrics and /healthz (empty to disable)")
	return cmd
}

// producerFix adds the command that fixes a topic whose retention would
// delete the run's records.
func producerFix(err error, kf *kafkaFlags) error {
	var re *producer.RetentionError
	if !errors.As(err, &re) {
		return err
	}
	// Every topic flag given, not only the raw topic's: topics create acts on
	// the whole layout and would otherwise create the default-named topics.
	return fmt.Errorf("%w\nfix: give the topics a longer retention: streamlab topics create --brokers %s%s --retention %dh --update-configs; or start the event clock later (--start now)",
		err, kf.brokers, kf.topicArgs(), int(re.Enough().Hours()))
}
