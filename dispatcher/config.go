package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamlab/streamlab/dispatcher/discord"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/retry"
)

// Config of the dispatcher. Start from DefaultConfig and change what you
// need: Validate rejects out-of-range values instead of replacing them.
type Config struct {
	// Brokers are the Kafka bootstrap addresses. Default ["localhost:9092"].
	Brokers []string
	// AggregatesTopic holds the window aggregates. Default "agg.window.v1".
	AggregatesTopic string
	// DLQTopic holds the dead letters. Default "events.dlq.v1".
	DLQTopic string
	// AlertsTopic is where alerts are published and the incident state is
	// rebuilt from. Default "alerts.v1".
	AlertsTopic string
	// ClientID names the dispatcher to the brokers; it joins no consumer
	// group. Default "streamlab-dispatcher".
	ClientID string
	// Retry is the heal-or-stop policy of the start: until the topics are
	// found and the history is read, transient errors (a broker not up
	// yet, a partition without a leader) are retried, each step up to
	// Retry.Timeout. Default retry.DefaultPolicy() (3m; 0 = until stopped).
	Retry retry.Policy

	// WebhookURL is the Discord webhook (a secret). Default "": dry run,
	// alerts go to the log only.
	WebhookURL string
	// DiscordAPIBase replaces Discord's API base URL (a local stand-in).
	// Default "": derived from the webhook URL.
	DiscordAPIBase string
	// GrafanaURL is the base of the dashboard links in alerts. Default
	// "http://localhost:3000"; "" means no links.
	GrafanaURL string

	// Rules are the alert rules and their thresholds. Default
	// rules.DefaultConfig(); Rules.Lookback is also how far back the
	// topics are read at start.
	Rules rules.Config
	// Cooldown is the minimum life of an incident: at most one alert per
	// rule and dimension per Cooldown. Default 5m; 0 means none.
	Cooldown time.Duration
	// StaleAfter resolves an open incident that got no verdict for this
	// long. Default 30m; 0 means never.
	StaleAfter time.Duration
	// EvalInterval is how often the rules run. Default 5s.
	EvalInterval time.Duration

	// QueueSize bounds the Discord send queue; when full the oldest alert
	// is dropped and counted. Default 256.
	QueueSize int
	// SendTimeout bounds one Discord call. Default 10s.
	SendTimeout time.Duration
	// SendMaxAttempts is the number of tries per alert, 429s included.
	// Default 5.
	SendMaxAttempts int
	// ShutdownGrace is how long the send queue may drain at shutdown.
	// Default 5s.
	ShutdownGrace time.Duration

	// LagGroup is the consumer group whose lag is exported, measured from
	// outside it. Default "streamlab-processor"; "" turns the export off.
	LagGroup string
	// LagTopic is the topic that group reads. Default "events.raw.v1".
	LagTopic string
	// LagInterval is how often the lag is measured. Default 5s.
	LagInterval time.Duration

	// Registry receives the metrics. Default nil: a private registry.
	Registry *prometheus.Registry
	// Logger receives the logs. Default nil: no logs.
	Logger *slog.Logger
	// Clock is the time source (tests). Default nil: time.Now.
	Clock func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Brokers:         []string{"localhost:9092"},
		AggregatesTopic: "agg.window.v1",
		DLQTopic:        "events.dlq.v1",
		AlertsTopic:     "alerts.v1",
		ClientID:        "streamlab-dispatcher",
		Retry:           retry.DefaultPolicy(),
		GrafanaURL:      "http://localhost:3000",
		Rules:           rules.DefaultConfig(),
		Cooldown:        5 * time.Minute,
		StaleAfter:      30 * time.Minute,
		EvalInterval:    5 * time.Second,
		QueueSize:       256,
		SendTimeout:     10 * time.Second,
		SendMaxAttempts: 5,
		ShutdownGrace:   5 * time.Second,
		LagGroup:        "streamlab-processor",
		LagTopic:        "events.raw.v1",
		LagInterval:     5 * time.Second,
	}
}

// Validate reports every field that cannot work, each error naming its
// field; it never repeats the webhook URL.
func (c Config) Validate() error {
	var errs []error
	check := func(bad bool, field, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(field+" "+format, args...))
		}
	}
	check(len(c.Brokers) == 0, "Brokers", "must name at least one broker")
	for _, b := range c.Brokers {
		check(strings.TrimSpace(b) == "", "Brokers", "must not contain an empty address")
	}
	topics := []struct{ field, name string }{
		{"AggregatesTopic", c.AggregatesTopic}, {"DLQTopic", c.DLQTopic}, {"AlertsTopic", c.AlertsTopic},
	}
	if c.LagGroup != "" {
		topics = append(topics, struct{ field, name string }{"LagTopic", c.LagTopic})
	}
	seen := map[string]string{}
	for _, t := range topics {
		check(t.name == "", t.field, "must not be empty")
		if other, dup := seen[t.name]; dup && t.name != "" {
			check(true, t.field, "is %q, like %s", t.name, other)
		}
		seen[t.name] = t.field
	}
	check(c.ClientID == "", "ClientID", "must not be empty")
	if err := c.Retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Retry: %w", err))
	}
	check(c.Cooldown < 0, "Cooldown", "must not be negative, got %s", c.Cooldown)
	check(c.StaleAfter < 0, "StaleAfter", "must not be negative, got %s", c.StaleAfter)
	check(c.EvalInterval <= 0, "EvalInterval", "must be positive, got %s", c.EvalInterval)
	check(c.QueueSize < 1, "QueueSize", "must be at least 1, got %d", c.QueueSize)
	check(c.SendTimeout <= 0, "SendTimeout", "must be positive, got %s", c.SendTimeout)
	check(c.SendMaxAttempts < 1, "SendMaxAttempts", "must be at least 1, got %d", c.SendMaxAttempts)
	check(c.ShutdownGrace < 0, "ShutdownGrace", "must not be negative, got %s", c.ShutdownGrace)
	check(c.LagGroup != "" && c.LagInterval <= 0, "LagInterval", "must be positive, got %s", c.LagInterval)
	if c.WebhookURL != "" {
		if _, err := discord.ParseWebhookURL(c.WebhookURL); err != nil {
			check(true, "WebhookURL", "is not a Discord webhook URL: %v", err)
		}
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c Config) clock() func() time.Time {
	if c.Clock == nil {
		return time.Now
	}
	return c.Clock
}

// LogValue lets a Config be logged without its secret. The rules are
// logged on their own, one readable line each (rules.Config.Describe).
func (c Config) LogValue() slog.Value {
	hook := "none (dry run)"
	if c.WebhookURL != "" {
		if w, err := discord.ParseWebhookURL(c.WebhookURL); err == nil {
			hook = w.String()
		} else {
			hook = "[REDACTED, invalid]"
		}
	}
	lag := "off"
	if c.LagGroup != "" {
		lag = "group " + c.LagGroup + " on " + c.LagTopic + " every " + c.LagInterval.String()
	}
	return slog.GroupValue(
		slog.String("brokers", strings.Join(c.Brokers, ",")),
		slog.String("topics", "aggregates "+c.AggregatesTopic+", dead letters "+c.DLQTopic+", alerts "+c.AlertsTopic),
		slog.String("webhook", hook),
		slog.String("grafana_url", c.GrafanaURL),
		slog.Duration("cooldown", c.Cooldown),
		slog.Duration("eval_interval", c.EvalInterval),
		slog.Duration("lookback", c.Rules.Lookback),
		slog.String("lag_export", lag),
	)
}

// String keeps fmt from printing the webhook URL.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v from printing the webhook URL.
func (c Config) GoString() string { return c.String() }
