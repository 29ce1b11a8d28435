// Package dispatcher is the `streamlab dispatcher` service: it watches
// agg.window.v1 and events.dlq.v1, evaluates the alert rules (package
// rules) on a ticker, runs the incident lifecycle (package incident),
// publishes every alert to alerts.v1 and sends it to Discord (package
// discord) through a bounded queue that never pushes back on consumption.
//
// Design choices (dispatcher/README.md has the long form):
//
//   - No consumer group. One plain kafka-go reader per partition starts at
//     now − Lookback (default 30 min): the rules are a function of the
//     recent past (baselines of 15 windows), not of a committed position,
//     so a restart re-reads that past instead of starting blind. Run one
//     dispatcher; two would both alert.
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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/discord"
	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/dispatcher/rules"
)

// catchUpLimit bounds the wait for catch-up: a partition whose leader is
// down must not silence every rule forever.
const catchUpLimit = 2 * time.Minute

// Run runs the dispatcher until ctx is cancelled, then shuts down
// gracefully (the send queue gets ShutdownGrace to drain) and returns nil.
// Bad configuration and failures before consumption starts (the alert
// history cannot be read) are returned as errors; errors never contain the
// webhook URL.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("component", "dispatcher")
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}

	var (
		notifier Notifier
		sender   *discord.Sender
	)
	if cfg.WebhookURL != "" {
		s, err := discord.New(discord.Options{
			WebhookURL: cfg.WebhookURL, APIBase: cfg.DiscordAPIBase, QueueSize: cfg.QueueSize,
			Timeout: cfg.SendTimeout, MaxAttempts: cfg.SendMaxAttempts, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("dispatcher: %w", err)
		}
		notifier, sender = s, s
	} else {
		notifier = &logOnly{}
		log.Warn("no Discord webhook configured: alerts go to the log only (dry run)")
	}
	m, err := newMetrics(reg, notifier)
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		stop, err := serveMetrics(cfg.MetricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	started := cfg.Clock()
	engine, err := rules.New(cfg.Rules, started)
	if err != nil {
		return err
	}
	tracker := incident.NewTracker(incident.Config{Cooldown: cfg.Cooldown, StaleAfter: cfg.StaleAfter, Link: grafanaLinker(cfg.GrafanaURL)})
	log.Info("dispatcher starting", "config", cfg)

	k := newKafkaIO(cfg, log)
	parts, err := k.partitions(ctx, cfg.AggregatesTopic, cfg.DLQTopic, cfg.AlertsTopic)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dispatcher: %w", err)
	}
	history, err := k.readAlerts(ctx, cfg.AlertsTopic, parts[cfg.AlertsTopic])
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dispatcher: rebuild incident state from %s: %w", cfg.AlertsTopic, err)
	}
	tracker.Restore(history)
	m.open.Set(float64(tracker.OpenCount()))
	log.Info("incident state rebuilt", "alerts_read", len(history), "open_incidents", tracker.OpenCount())

	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.AlertsTopic,
		// Murmur2 like the Java client and franz-go: one incident, one partition.
		Balancer:     &kafka.ReferenceHash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond, WriteTimeout: 10 * time.Second,
		Transport: &kafka.Transport{ClientID: cfg.ClientID},
	}
	defer w.Close()
	publish := func(ctx context.Context, alerts []incident.Alert) error {
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
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("write %s: %w", cfg.AlertsTopic, err)
		}
		return nil
	}

	// The sender outlives ctx by the shutdown grace, to drain its queue.
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	sendDone := make(chan struct{})
	if sender != nil {
		go func() { defer close(sendDone); sender.Run(sendCtx) }()
	} else {
		close(sendDone)
	}

	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	deliveries := make(chan delivery, 1024)
	pending, waitReaders, err := k.watch(readCtx, parts, []string{cfg.AggregatesTopic, cfg.DLQTopic},
		started.Add(-cfg.Lookback), deliveries)
	if err != nil {
		stopRead()
		shutdownSender(sender, stopSend, sendDone, cfg.ShutdownGrace, log)
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dispatcher: %w", err)
	}

	c := newCore(cfg, log, engine, tracker, publish, notifier, m)
	ticker := time.NewTicker(cfg.EvalInterval)
	defer ticker.Stop()
	ready := pending == 0
	if ready {
		log.Info("nothing to catch up on; evaluating")
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case d := <-deliveries:
			if !d.caughtUp {
				c.handle(d.msg)
				continue
			}
			if pending--; pending == 0 && !ready {
				ready = true
				log.Info("caught up with the lookback; evaluating", "lookback", cfg.Lookback)
				c.evaluate(ctx, cfg.Clock())
			}
		case <-ticker.C:
			now := cfg.Clock()
			if !ready && now.Sub(started) > catchUpLimit {
				ready = true
				log.Warn("catch-up is taking too long; evaluating anyway", "partitions_behind", pending)
			}
			if ready {
				c.evaluate(ctx, now)
			}
		}
	}
	log.Info("dispatcher stopping")
	stopRead()
	waitReaders()
	shutdownSender(sender, stopSend, sendDone, cfg.ShutdownGrace, log)
	return nil
}

// shutdownSender lets the queue drain for up to grace, then stops the
// sender. It does not wait past the grace: discordgo's rate-limit sleep
// cannot be interrupted, and exiting matters more than one message.
func shutdownSender(s *discord.Sender, stop context.CancelFunc, done <-chan struct{}, grace time.Duration, log *slog.Logger) {
	if s == nil {
		return
	}
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

func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
