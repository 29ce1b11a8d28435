package dispatcher

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
)

// core is the processing path, free of Kafka I/O: messages in, alerts out
// to a publisher (alerts.v1) and a notifier (Discord). One goroutine owns
// it, so the rules engine and the tracker need no locks.
type core struct {
	log      *slog.Logger
	clock    func() time.Time
	engine   *rules.Engine
	tracker  *incident.Tracker
	publish  func(ctx context.Context, alerts []incident.Alert) error
	notify   Notifier
	m        *metrics
	aggTopic string
	dlqTopic string

	aggConsumed, dlqConsumed prometheus.Counter
	aggInvalid, dlqInvalid   prometheus.Counter
}

func newCore(cfg Config, log *slog.Logger, engine *rules.Engine, tracker *incident.Tracker,
	publish func(context.Context, []incident.Alert) error, n Notifier, m *metrics) *core {
	return &core{
		log: log, clock: cfg.clock(), engine: engine, tracker: tracker, publish: publish, notify: n, m: m,
		aggTopic: cfg.AggregatesTopic, dlqTopic: cfg.DLQTopic,
		aggConsumed: m.consumed.WithLabelValues(cfg.AggregatesTopic),
		dlqConsumed: m.consumed.WithLabelValues(cfg.DLQTopic),
		aggInvalid:  m.invalid.WithLabelValues(cfg.AggregatesTopic),
		dlqInvalid:  m.invalid.WithLabelValues(cfg.DLQTopic),
	}
}

// handle feeds one message to the rules. Undecodable messages are counted
// and skipped: the dispatcher watches, it must not stop on bad input.
func (c *core) handle(m kafka.Message) {
	seen := m.Time
	if seen.IsZero() {
		seen = c.clock()
	}
	switch m.Topic {
	case c.aggTopic:
		c.aggConsumed.Inc()
		rec, err := aggregate.Unmarshal(m.Value)
		if err == nil {
			err = c.engine.ObserveAggregate(rec, seen)
		}
		if err != nil {
			c.aggInvalid.Inc()
			c.log.Debug("skipping aggregate", "partition", m.Partition, "offset", m.Offset, "error", err)
		}
	case c.dlqTopic:
		c.dlqConsumed.Inc()
		l, err := deadletter.FromMessage(m)
		if err != nil {
			c.dlqInvalid.Inc()
			c.log.Debug("skipping dead letter", "partition", m.Partition, "offset", m.Offset, "error", err)
			return
		}
		c.engine.ObserveDeadLetter(l, seen)
	}
}

// evaluate runs the rules at now and ships the resulting alerts: first to
// alerts.v1 (the durable record a restart rebuilds from), then to the
// notifier, which never blocks.
func (c *core) evaluate(ctx context.Context, now time.Time) {
	verdicts := c.engine.Evaluate(now)
	for _, v := range verdicts {
		if v.Firing {
			c.m.verdicts.WithLabelValues(v.Rule, "firing").Inc()
		} else {
			c.m.verdicts.WithLabelValues(v.Rule, "healthy").Inc()
		}
	}
	alerts := c.tracker.Apply(now, verdicts)
	c.m.evaluations.Inc()
	c.m.open.Set(float64(c.tracker.OpenCount()))
	if len(alerts) == 0 {
		return
	}
	for _, a := range alerts {
		c.m.raised.WithLabelValues(a.Rule, string(a.Status)).Inc()
		lvl := slog.LevelWarn
		if a.Status == incident.Resolved {
			lvl = slog.LevelInfo
		}
		c.log.Log(ctx, lvl, "alert", "status", a.Status, "incident", a.IncidentKey(), "incident_id", a.IncidentID,
			"severity", a.Severity, "summary", a.Summary, "value", a.ValueText, "baseline", a.BaselineText,
			"threshold", a.ThresholdText, "window_start", a.WindowStart, "grafana_url", a.GrafanaURL)
	}
	if err := c.publish(ctx, alerts); err != nil {
		c.m.publishErrors.Add(float64(len(alerts)))
		c.log.Error("could not publish alerts; a restart may alert these incidents again", "count", len(alerts), "error", err)
	}
	for _, a := range alerts {
		c.notify.Enqueue(a)
	}
}
