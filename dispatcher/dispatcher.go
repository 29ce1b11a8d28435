// Package dispatcher is the `streamlab dispatcher` service: it watches
// agg.window.v1 and events.dlq.v1, evaluates the alert rules (package
// rules) on a ticker, runs the incident lifecycle (package incident),
// publishes every alert to alerts.v1 and sends it to Discord (package
// discord) through a bounded queue that never pushes back on consumption.
// It also exports the processor group's lag, measured from outside.
//
// Design choices (dispatcher/README.md has the long form):
//
//   - No consumer group. One plain kafka-go reader per partition starts at
//     now − Rules.Lookback: the rules are a function of the recent past,
//     not of a committed position, so a restart re-reads that past and
//     arrives at the same verdicts. Run one dispatcher; two would both
//     alert.
//   - No evaluation before catch-up: until every partition has been read up
//     to the end it had at start, a half-read history would look like a
//     revenue drop. Catching up is marked in-band, behind the messages.
//   - alerts.v1 is the incident state: at start it is read from the
//     beginning and replayed, so an incident open before a restart is not
//     alerted again, and its resolve pairs with the original alert.
//   - Publish, then notify: an alert is written to alerts.v1 (acks=all)
//     before it is queued for Discord. If the write fails the alert is still
//     sent and the failure is counted; a restart may then alert it again
//     (at-least-once, never silently lost).
package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/discord"
	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// catchUpLimit bounds the wait for catch-up: a partition whose leader is
// down must not silence every rule forever.
const catchUpLimit = 2 * time.Minute

// Run runs the dispatcher until ctx is cancelled, then shuts down
// gracefully (the send queue gets ShutdownGrace to drain) and returns nil.
// Bad configuration, missing topics and a start whose transient errors
// outlast Retry.Timeout (wrapping retry.ErrGaveUp) are returned as errors;
// errors never contain the webhook URL.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s, err := newService(cfg)
	if err != nil {
		return err
	}
	defer s.writer.Close()
	s.logStart()
	if err := s.start(ctx); err != nil {
		s.stopSender()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dispatcher: %w", err)
	}
	s.loop(ctx)
	s.log.Info("dispatcher stopping")
	s.stopReaders()
	s.stopSender()
	return nil
}

// service is one running dispatcher.
type service struct {
	cfg     Config
	log     *slog.Logger
	clock   func() time.Time
	k       *kafkaIO
	m       *metrics
	engine  *rules.Engine
	tracker *incident.Tracker
	notify  Notifier
	sender  *discord.Sender // nil in a dry run
	writer  *kafka.Writer
	lag     *lagExporter // nil when the export is off
	core    *core

	deliveries  chan delivery
	pending     int // partitions not caught up yet
	stopReaders func()
	stopSender  func()
}

func newService(cfg Config) (*service, error) {
	log := cfg.logger().With("component", "dispatcher")
	s := &service{cfg: cfg, log: log, clock: cfg.clock(), k: newKafkaIO(cfg, log),
		deliveries: make(chan delivery, 1024), stopReaders: func() {}, stopSender: func() {}}
	if cfg.WebhookURL != "" {
		snd, err := discord.New(discord.Options{
			WebhookURL: cfg.WebhookURL, APIBase: cfg.DiscordAPIBase, QueueSize: cfg.QueueSize,
			Timeout: cfg.SendTimeout, MaxAttempts: cfg.SendMaxAttempts, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("dispatcher: %w", err)
		}
		s.notify, s.sender = snd, snd
	} else {
		s.notify = &logOnly{}
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var err error
	if s.m, err = newMetrics(reg, s.notify); err != nil {
		return nil, err
	}
	if cfg.LagGroup != "" {
		s.lag = newLagExporter(cfg, s.k, log)
		if err := reg.Register(s.lag); err != nil {
			return nil, fmt.Errorf("dispatcher: register lag metrics: %w", err)
		}
	}
	if s.engine, err = rules.New(cfg.Rules); err != nil {
		return nil, err
	}
	ic := incident.Config{Cooldown: cfg.Cooldown, StaleAfter: cfg.StaleAfter, Link: grafanaLinker(cfg.GrafanaURL)}
	if s.tracker, err = incident.NewTracker(ic); err != nil {
		return nil, err
	}
	s.writer = &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.AlertsTopic,
		// One incident, one partition, hashed like every streamlab writer.
		Balancer:     kafkaio.KeyBalancer(),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond, WriteTimeout: 10 * time.Second,
		Transport: &kafka.Transport{ClientID: cfg.ClientID},
	}
	s.core = newCore(cfg, log, s.engine, s.tracker, s.publish, s.notify, s.m)
	return s, nil
}

// logStart says what the dispatcher will do, the rules one readable line
// each.
func (s *service) logStart() {
	s.log.Info("dispatcher starting", "config", s.cfg)
	for _, line := range s.cfg.Rules.Describe() {
		s.log.Info("alert rules: " + line)
	}
	if s.sender == nil {
		s.log.Warn("no Discord webhook configured: alerts go to the log only (dry run)")
	}
}

// start finds the topics, rebuilds the incident state from the alerts
// topic, and starts the readers, the sender and the lag exporter. Every
// Kafka step heals transient errors under the Retry policy.
func (s *service) start(ctx context.Context) error {
	cfg := s.cfg
	topics := []string{cfg.AggregatesTopic, cfg.DLQTopic, cfg.AlertsTopic}
	if s.lag != nil {
		topics = append(topics, cfg.LagTopic)
	}
	parts, err := s.k.partitions(ctx, topics...)
	if err != nil {
		return err
	}
	history, err := s.k.readAlerts(ctx, cfg.AlertsTopic, parts[cfg.AlertsTopic])
	if err != nil {
		return fmt.Errorf("rebuild incident state from %s: %w", cfg.AlertsTopic, err)
	}
	s.tracker.Restore(history)
	s.m.open.Set(float64(s.tracker.OpenCount()))
	s.log.Info("incident state rebuilt", "alerts_read", len(history), "open_incidents", s.tracker.OpenCount())

	plans, err := s.k.plans(ctx, parts, cfg.AggregatesTopic, cfg.DLQTopic, s.clock().Add(-cfg.Rules.Lookback))
	if err != nil {
		return err
	}
	// The readers, sender and exporter are stopped by Run, after the loop.
	life := context.WithoutCancel(ctx)
	readCtx, stopRead := context.WithCancel(life)
	wait, err := s.k.watch(readCtx, plans, s.deliveries)
	if err != nil {
		stopRead()
		return err
	}
	s.pending = len(plans)
	s.stopReaders = func() { stopRead(); wait() }
	s.startSender(life)
	if s.lag != nil {
		lagCtx, stopLag := context.WithCancel(life)
		done := make(chan struct{})
		go func() { defer close(done); s.lag.run(lagCtx, len(parts[cfg.LagTopic])) }()
		readers := s.stopReaders
		s.stopReaders = func() { stopLag(); <-done; readers() }
	}
	return nil
}

// startSender runs the Discord sender. It outlives the loop by the
// shutdown grace, to drain its queue.
func (s *service) startSender(ctx context.Context) {
	if s.sender == nil {
		return
	}
	sendCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.sender.Run(sendCtx) }()
	s.stopSender = func() { shutdownSender(s.sender, cancel, done, s.cfg.ShutdownGrace, s.log) }
}

// loop feeds messages to the core and evaluates on the ticker until ctx
// ends; nothing is judged before every partition has caught up.
func (s *service) loop(ctx context.Context) {
	started := s.clock()
	ticker := time.NewTicker(s.cfg.EvalInterval)
	defer ticker.Stop()
	ready := s.pending == 0
	if ready {
		s.log.Info("nothing to catch up on; evaluating")
	}
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-s.deliveries:
			if !d.caughtUp {
				s.core.handle(d.msg)
				continue
			}
			if s.pending--; s.pending == 0 && !ready {
				ready = true
				s.log.Info("caught up with the lookback; evaluating", "lookback", s.cfg.Rules.Lookback)
				s.core.evaluate(ctx, s.clock())
			}
		case <-ticker.C:
			now := s.clock()
			if !ready && now.Sub(started) > catchUpLimit {
				ready = true
				s.log.Warn("catch-up is taking too long; evaluating anyway", "partitions_behind", s.pending)
			}
			if ready {
				s.core.evaluate(ctx, now)
			}
		}
	}
}

// publish writes alerts to the alerts topic, keyed rule/incident_id.
func (s *service) publish(ctx context.Context, alerts []incident.Alert) error {
	msgs := make([]kafka.Message, 0, len(alerts))
	for i := range alerts {
		b, err := alerts[i].Marshal()
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Key: []byte(alerts[i].Key()), Value: b})
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.writer.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg.AlertsTopic, err)
	}
	return nil
}

// shutdownSender lets the queue drain for up to grace, then stops the
// sender. It does not wait past the grace: discordgo's rate-limit sleep
// cannot be interrupted, and exiting matters more than one message.
func shutdownSender(s *discord.Sender, stop context.CancelFunc, done <-chan struct{}, grace time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		log.Warn("send queue not drained at shutdown", "error", err)
	}
	stop()
	select {
	case <-done:
	case <-time.After(grace):
		log.Warn("discord sender still busy after the shutdown grace; leaving it")
	}
}
