package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/dispatcher"
	"github.com/streamlab/streamlab/internal/metrics"
)

// dispatcherFields maps dispatcher.Config and rules.Config fields to the
// dispatcher's flags.
var dispatcherFields = fieldFlags{
	"Brokers": "brokers", "AggregatesTopic": "agg-topic", "DLQTopic": "dlq-topic", "AlertsTopic": "alerts-topic",
	"LagTopic": "raw-topic", "WebhookURL": "discord-webhook-url",
	"DiscordAPIBase": "discord-api-base", "GrafanaURL": "grafana-url", "Cooldown": "cooldown", "StaleAfter": "stale-after",
	"EvalInterval": "eval-interval", "QueueSize": "queue-size", "SendTimeout": "send-timeout",
	"LagGroup": "lag-group", "LagInterval": "lag-interval",
	"Lookback": "lookback", "WindowSize": "window", "SettleDelay": "settle-delay", "BaselineWindows": "baseline-windows",
	"DLQBucket": "dlq-bucket", "WarmupBuckets": "warmup-buckets", "DLQSpikeFloor": "dlq-spike-floor",
	"DLQSpikeMultiple": "dlq-spike-multiple", "LateFloor": "late-floor", "LateMultiple": "late-multiple",
	"RevenueMADK": "revenue-mad-k", "RevenueMinDrop": "revenue-min-drop", "RevenueMinHistory": "revenue-min-history", "RevenueDropWindows": "revenue-drop-windows",
	"ZeroRevenueMinEvents": "zero-revenue-min-events", "PaymentFailureRatio": "payment-failure-ratio",
	"PaymentMinOrders": "payment-min-orders", "StallWindows": "stall-windows",
}

func newDispatcherCmd() *cobra.Command {
	var kf kafkaFlags
	var cf connectFlags
	d := dispatcher.DefaultConfig()
	cfg := d
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "dispatcher",
		Short: "Watch aggregates and dead letters, send Discord alerts, publish them to alerts.v1, export the processor's lag",
		Long: `Dispatcher reads the aggregate and dead-letter topics, evaluates the alert
rules (dead-letter spike, late events dropped, revenue drop and zero revenue,
payment-failure ratio, pipeline stall) and sends one Discord message per
incident, a resolve when it clears, and every alert to the alerts topic (from
which it rebuilds its state on restart). It logs every rule with its numbers at
start. Without --discord-webhook-url alerts only go to the log. The webhook URL
is a secret: it never appears in logs, errors or metrics.

It also exports the lag of the processor's consumer group (--lag-group) on the
raw topic, measured from outside the processor: committed offsets against end
offsets, as streamlab_consumer_group_lag_messages and _seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, policy, err := kafkaConnection(&kf, &cf)
			if err != nil {
				return err
			}
			c := cfg
			c.Brokers, c.Retry = brokers, policy
			c.AggregatesTopic, c.DLQTopic, c.AlertsTopic, c.LagTopic = kf.topics.Agg, kf.topics.DLQ, kf.topics.Alerts, kf.topics.Raw
			if c.GrafanaURL == "-" {
				c.GrafanaURL = ""
			}
			if err := dispatcherFields.invalid(c.Validate()); err != nil {
				return err
			}
			c.Registry = metrics.NewRegistry()
			c.Logger = slog.Default()
			if err := metrics.Serve(cmd.Context(), metricsAddr, c.Registry, nil); err != nil {
				return fmt.Errorf("%s %s: %w", flagRef("metrics-addr"), metricsAddr, err)
			}
			return kf.explain(dispatcher.Run(cmd.Context(), c))
		},
	}
	fs := cmd.Flags()
	kf.register(fs)
	hide(fs, "state-topic", "replays-topic")
	cf.register(fs, "Kafka")
	fs.StringVar(&cfg.WebhookURL, "discord-webhook-url", "", "Discord webhook URL (secret); empty = dry run, alerts to the log only")
	fs.StringVar(&cfg.DiscordAPIBase, "discord-api-base", "", "send Discord calls to this base URL instead (a local stand-in)")
	fs.StringVar(&cfg.GrafanaURL, "grafana-url", d.GrafanaURL, `base URL of dashboard links in alerts ("-" for none)`)
	fs.StringVar(&metricsAddr, "metrics-addr", ":9103", "address of /metrics and /healthz (empty to disable)")
	fs.DurationVar(&cfg.Cooldown, "cooldown", d.Cooldown, "at most one alert per rule and dimension per cooldown (0 = none)")
	fs.DurationVar(&cfg.StaleAfter, "stale-after", d.StaleAfter, "resolve an incident whose rule gave no verdict for this long (0 = never)")
	fs.DurationVar(&cfg.EvalInterval, "eval-interval", d.EvalInterval, "how often the rules run")
	fs.IntVar(&cfg.QueueSize, "queue-size", d.QueueSize, "Discord send queue; the oldest alert is dropped when full")
	fs.DurationVar(&cfg.SendTimeout, "send-timeout", d.SendTimeout, "timeout of one Discord call")
	fs.StringVar(&cfg.LagGroup, "lag-group", d.LagGroup, "consumer group whose lag on --raw-topic is exported (empty = no export)")
	fs.DurationVar(&cfg.LagInterval, "lag-interval", d.LagInterval, "how often the consumer-group lag is measured")
	r := &cfg.Rules
	fs.DurationVar(&r.Lookback, "lookback", d.Rules.Lookback, "history the rules keep; re-read from the topics at start")
	fs.DurationVar(&r.WindowSize, "window", d.Rules.WindowSize, "the processor's window size")
	fs.DurationVar(&r.SettleDelay, "settle-delay", d.Rules.SettleDelay, "judge a window this long after its first record (0 = one window)")
	fs.IntVar(&r.BaselineWindows, "baseline-windows", d.Rules.BaselineWindows, "trailing windows, or buckets with traffic, that form a baseline")
	fs.DurationVar(&r.DLQBucket, "dlq-bucket", d.Rules.DLQBucket, "dead letters are counted per bucket of failed_at")
	fs.IntVar(&r.WarmupBuckets, "warmup-buckets", d.Rules.WarmupBuckets, "buckets with traffic a spike rule needs before it judges")
	fs.Int64Var(&r.DLQSpikeFloor, "dlq-spike-floor", d.Rules.DLQSpikeFloor, "a dead-letter spike needs more dead letters of one kind per bucket than this")
	fs.Float64Var(&r.DLQSpikeMultiple, "dlq-spike-multiple", d.Rules.DLQSpikeMultiple, "and a share of the input above this multiple of the baseline share")
	fs.Int64Var(&r.LateFloor, "late-floor", d.Rules.LateFloor, "a late-event surge needs more late_event dead letters per bucket than this")
	fs.Float64Var(&r.LateMultiple, "late-multiple", d.Rules.LateMultiple, "and a share of the input above this multiple of the baseline share")
	fs.Float64Var(&r.RevenueMADK, "revenue-mad-k", d.Rules.RevenueMADK, "revenue drop band: median − k × 1.4826 × MAD")
	fs.Float64Var(&r.RevenueMinDrop, "revenue-min-drop", d.Rules.RevenueMinDrop, "and at least this fraction below the median")
	fs.IntVar(&r.RevenueDropWindows, "revenue-drop-windows", d.Rules.RevenueDropWindows, "revenue_drop fires when this many settled windows in a row are below the band (1 = single windows)")
	fs.IntVar(&r.RevenueMinHistory, "revenue-min-history", d.Rules.RevenueMinHistory, "settled windows the revenue rules need before they judge")
	fs.Int64Var(&r.ZeroRevenueMinEvents, "zero-revenue-min-events", d.Rules.ZeroRevenueMinEvents, "zero revenue alerts only with at least this many events in the window")
	fs.Float64Var(&r.PaymentFailureRatio, "payment-failure-ratio", d.Rules.PaymentFailureRatio, "payment failures / orders above this alert")
	fs.Int64Var(&r.PaymentMinOrders, "payment-min-orders", d.Rules.PaymentMinOrders, "with at least this many orders in the window")
	fs.IntVar(&r.StallWindows, "stall-windows", d.Rules.StallWindows, "stall alert after this many window lengths without a new window")
	return cmd
}
