package dispatcher

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamlab/streamlab/dispatcher/rules"
)

// Metric names (all prefixed streamlab_dispatcher_). No label ever carries
// the webhook URL.
const (
	MetricMessagesConsumed = "streamlab_dispatcher_messages_consumed_total"    // {topic}
	MetricMessagesInvalid  = "streamlab_dispatcher_messages_invalid_total"     // {topic}
	MetricAlertsRaised     = "streamlab_dispatcher_alerts_raised_total"        // {rule,status}
	MetricAlertsSent       = "streamlab_dispatcher_alerts_sent_total"          // delivered to Discord (dry run: logged)
	MetricAlertsFailed     = "streamlab_dispatcher_alerts_failed_total"        // given up after retries or a 4xx
	MetricAlertsDropped    = "streamlab_dispatcher_alerts_dropped_total"       // dropped from a full send queue
	MetricSendRetries      = "streamlab_dispatcher_discord_retries_total"      // {reason=rate_limited|error}
	MetricSendQueue        = "streamlab_dispatcher_send_queue_length"          // alerts waiting
	MetricOpenIncidents    = "streamlab_dispatcher_open_incidents"             // incidents open now
	MetricPublishErrors    = "streamlab_dispatcher_alert_publish_errors_total" // writes to alerts.v1 that failed
	MetricEvaluations      = "streamlab_dispatcher_evaluations_total"          // rule evaluation rounds
	MetricVerdicts         = "streamlab_dispatcher_verdicts_total"             // {rule,verdict=firing|healthy}
)

type metrics struct {
	consumed      *prometheus.CounterVec
	invalid       *prometheus.CounterVec
	raised        *prometheus.CounterVec
	open          prometheus.Gauge
	publishErrors prometheus.Counter
	evaluations   prometheus.Counter
	verdicts      *prometheus.CounterVec
}

// newMetrics registers the dispatcher's own metrics and the notifier's
// counters (read at scrape time) on reg.
func newMetrics(reg prometheus.Registerer, n Notifier) (*metrics, error) {
	m := &metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricMessagesConsumed,
			Help: "Messages read from the watched topics."}, []string{"topic"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricMessagesInvalid,
			Help: "Messages that could not be decoded and were skipped."}, []string{"topic"}),
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricAlertsRaised,
			Help: "Alerts raised by the incident lifecycle (firing and resolved)."}, []string{"rule", "status"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricOpenIncidents,
			Help: "Incidents currently open."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPublishErrors,
			Help: "Alerts that could not be written to the alerts topic."}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricEvaluations,
			Help: "Rule evaluation rounds."}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricVerdicts,
			Help: "Verdicts given, per rule: a rule still warming up gives none."}, []string{"rule", "verdict"}),
	}
	for _, r := range rules.Names() {
		m.verdicts.WithLabelValues(r, "firing")
		m.verdicts.WithLabelValues(r, "healthy")
	}
	cs := []prometheus.Collector{m.consumed, m.invalid, m.raised, m.open, m.publishErrors, m.evaluations, m.verdicts,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricAlertsSent,
			Help: "Alerts delivered to Discord (in dry run: written to the log)."}, func() float64 { return float64(n.Sent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricAlertsFailed,
			Help: "Alerts Discord did not accept after the allowed attempts."}, func() float64 { return float64(n.Failed()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricAlertsDropped,
			Help: "Alerts dropped, oldest first, because the send queue was full."}, func() float64 { return float64(n.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricSendQueue,
			Help: "Alerts waiting in the send queue."}, func() float64 { return float64(n.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricSendRetries, ConstLabels: prometheus.Labels{"reason": "rate_limited"},
			Help: "Discord sends retried, by reason."}, func() float64 { return float64(n.RateLimited()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: MetricSendRetries, ConstLabels: prometheus.Labels{"reason": "error"},
			Help: "Discord sends retried, by reason."}, func() float64 { return float64(n.Retried()) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("dispatcher: register metrics: %w", err)
		}
	}
	return m, nil
}
