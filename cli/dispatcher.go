package cli

import (
	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/dispatcher"
	"github.com/streamlab/streamlab/internal/metrics"
)

func newDispatcherCmd() *cobra.Command {
	var kf kafkaFlags
	d := dispatcher.DefaultConfig()
	cfg := d
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "dispatcher",
		Short: "Watch aggregates and dead letters, send Discord alerts, publish them to alerts.v1",
		Long: `Dispatcher reads the aggregate and dead-letter topics, evaluates the alert
rules (DLQ spike, revenue drop and zero revenue, payment-failure ratio, late-event
surge, pipeline stall) and sends one Discord message per incident, a resolve when
it clears, and every alert to the alerts topic (from which it rebuilds its state
on restart). Without --discord-webhook-url alerts only go to the log. The webhook
URL is a secret: it never appears in logs, errors or metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			c := cfg
			c.Brokers = brokers
			c.AggregatesTopic, c.DLQTopic, c.AlertsTopic = kf.topics.Agg, kf.topics.DLQ, kf.topics.Alerts
			c.Registry = metrics.NewRegistry()
			if err := metrics.Serve(cmd.Context(), metricsAddr, c.Registry, nil); err != nil {
				return err
			}
			return dispatcher.Run(cmd.Context(), c)
		},
	}
	fs := cmd.Flags()
	kf.register(fs)
	fs.StringVar(&cfg.WebhookURL, "discord-webhook-url", "", "Discord webhook URL (secret); empty = dry run, alerts to the log only")
	fs.StringVar(&cfg.DiscordAPIBase, "discord-api-base", "", "send Discord calls to this base URL instead (a local stand-in)")
	fs.StringVar(&cfg.GrafanaURL, "grafana-url", d.GrafanaURL, `base URL of dashboard links in alerts ("-" for none)`)
	fs.StringVar(&metricsAddr, "metrics-addr", ":9103", "address of /metrics and /healthz (empty to disable)")
	fs.DurationVar(&cfg.Lookback, "lookback", d.Lookback, "at start, read aggregates and dead letters from this far back")
	fs.DurationVar(&cfg.Cooldown, "cooldown", d.Cooldown, "at most one alert per rule and dimension per cooldown")
	fs.DurationVar(&cfg.EvalInterval, "eval-interval", d.EvalInterval, "how often the rules run")
	fs.IntVar(&cfg.QueueSize, "queue-size", d.QueueSize, "Discord send queue; the oldest alert is dropped when full")
	fs.DurationVar(&cfg.SendTimeout, "send-timeout", d.SendTimeout, "timeout of one Discord call")
	r := &cfg.Rules
	fs.DurationVar(&r.WindowSize, "window", d.Rules.WindowSize, "the processor's window size")
	fs.DurationVar(&r.SettleDelay, "settle-delay", 0, "wait this long after a window first appears before judging it (0 = one window)")
	fs.IntVar(&r.BaselineWindows, "baseline-windows", d.Rules.BaselineWindows, "trailing windows that form a baseline")
	fs.DurationVar(&r.DLQBucket, "dlq-bucket", d.Rules.DLQBucket, "dead letters are counted per bucket of failed_at")
	fs.Int64Var(&r.DLQSpikeFloor, "dlq-spike-floor", d.Rules.DLQSpikeFloor, "a DLQ spike needs more dead letters of one reason per bucket than this")
	fs.Float64Var(&r.DLQSpikeMultiple, "dlq-spike-multiple", d.Rules.DLQSpikeMultiple, "and more than this multiple of the trailing median")
	fs.Float64Var(&r.RevenueMADK, "revenue-mad-k", d.Rules.RevenueMADK, "revenue drop band: median − k × 1.4826 × MAD")
	fs.Float64Var(&r.RevenueMinDrop, "revenue-min-drop", d.Rules.RevenueMinDrop, "and at least this fraction below the median")
	fs.Int64Var(&r.ZeroRevenueMinEvents, "zero-revenue-min-events", d.Rules.ZeroRevenueMinEvents, "zero revenue alerts only with at least this many events in the window")
	fs.Float64Var(&r.PaymentFailureRatio, "payment-failure-ratio", d.Rules.PaymentFailureRatio, "payment failures / orders above this alert")
	fs.Int64Var(&r.PaymentMinOrders, "payment-min-orders", d.Rules.PaymentMinOrders, "with at least this many orders in the window")
	fs.Int64Var(&r.LateFloor, "late-floor", d.Rules.LateFloor, "late-event surge needs more late events per window than this")
	fs.Float64Var(&r.LateMultiple, "late-multiple", d.Rules.LateMultiple, "and more than this multiple of the trailing median")
	fs.IntVar(&r.StallWindows, "stall-windows", d.Rules.StallWindows, "stall alert after this many window lengths without a new window")
	return cmd
}
