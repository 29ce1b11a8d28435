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
)

// Config of the dispatcher. A zero field takes its default:
//
//	Brokers          ["localhost:9092"]   Kafka bootstrap addresses
//	AggregatesTopic  "agg.window.v1"      window aggregates to watch
//	DLQTopic         "events.dlq.v1"      dead letters to watch
//	AlertsTopic      "alerts.v1"          where alerts are published (and state rebuilt from)
//	ClientID         "streamlab-dispatcher"  Kafka client id; there is no consumer group (see Lookback)
//	Lookback         30m                  at start, aggregates and dead letters are read from now − Lookback
//	WebhookURL       ""                   Discord webhook URL (a secret); "" = dry run, alerts go to the log only
//	DiscordAPIBase   ""                   replaces Discord's API base URL (tests, demo); "" = from the webhook URL
//	GrafanaURL       "http://localhost:3000"  base of the dashboard links in alerts; "" = no links
//	Rules            rules.DefaultConfig() thresholds (see package rules for each default)
//	Cooldown         5m                   minimum life of an incident: at most one alert per rule/dimension per Cooldown; negative = none
//	StaleAfter       30m                  an open incident with no verdict for this long is resolved as stale; negative = never
//	EvalInterval     5s                   how often the rules are evaluated
//	QueueSize        256                  Discord send queue; when full the oldest alert is dropped (counted)
//	SendTimeout      10s                  per-request timeout of a Discord call
//	SendMaxAttempts  5                    tries per alert (429s included)
//	ShutdownGrace    5s                   time given to the send queue to drain at shutdown
//	Registry         nil                  Prometheus registry for the metrics; nil = a private one
//	MetricsAddr      ""                   serve /metrics on this address (e.g. ":9103"); "" = do not serve
//	Logger           slog.Default()
//	Clock            time.Now             (tests)
type Config struct {
	Brokers         []string
	AggregatesTopic string
	DLQTopic        string
	AlertsTopic     string
	ClientID        string
	Lookback        time.Duration
	WebhookURL      string
	DiscordAPIBase  string
	GrafanaURL      string
	Rules           rules.Config
	Cooldown        time.Duration
	StaleAfter      time.Duration
	EvalInterval    time.Duration
	QueueSize       int
	SendTimeout     time.Duration
	SendMaxAttempts int
	ShutdownGrace   time.Duration
	Registry        *prometheus.Registry
	MetricsAddr     string
	Logger          *slog.Logger
	Clock           func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Brokers:         []string{"localhost:9092"},
		AggregatesTopic: "agg.window.v1",
		DLQTopic:        "events.dlq.v1",
		AlertsTopic:     "alerts.v1",
		ClientID:        "streamlab-dispatcher",
		Lookback:        30 * time.Minute,
		GrafanaURL:      "http://localhost:3000",
		Rules:           rules.DefaultConfig(),
		Cooldown:        5 * time.Minute,
		StaleAfter:      30 * time.Minute,
		EvalInterval:    5 * time.Second,
		QueueSize:       256,
		SendTimeout:     10 * time.Second,
		SendMaxAttempts: 5,
		ShutdownGrace:   5 * time.Second,
	}
}

// withDefaults fills zero fields. GrafanaURL is the exception: an explicit
// "" cannot be told from unset, so it defaults too; set "-" to disable links.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Brokers) == 0 {
		c.Brokers = d.Brokers
	}
	str := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	str(&c.AggregatesTopic, d.AggregatesTopic)
	str(&c.DLQTopic, d.DLQTopic)
	str(&c.AlertsTopic, d.AlertsTopic)
	str(&c.ClientID, d.ClientID)
	str(&c.GrafanaURL, d.GrafanaURL)
	if c.GrafanaURL == "-" {
		c.GrafanaURL = ""
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	dur(&c.Lookback, d.Lookback)
	dur(&c.Cooldown, d.Cooldown)
	dur(&c.StaleAfter, d.StaleAfter)
	dur(&c.EvalInterval, d.EvalInterval)
	dur(&c.SendTimeout, d.SendTimeout)
	dur(&c.ShutdownGrace, d.ShutdownGrace)
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.SendMaxAttempts == 0 {
		c.SendMaxAttempts = d.SendMaxAttempts
	}
	c.Rules = c.Rules.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports what to fix; it never repeats the webhook URL.
func (c Config) Validate() error {
	var errs []error
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("dispatcher: empty broker address"))
		}
	}
	topics := map[string]string{"aggregates": c.AggregatesTopic, "dlq": c.DLQTopic, "alerts": c.AlertsTopic}
	seen := map[string]string{}
	for _, role := range []string{"aggregates", "dlq", "alerts"} {
		t := topics[role]
		if other, dup := seen[t]; dup && t != "" {
			errs = append(errs, fmt.Errorf("dispatcher: the %s and %s topics are both %q", other, role, t))
		}
		seen[t] = role
	}
	for name, bad := range map[string]bool{
		"Lookback": c.Lookback < 0, "EvalInterval": c.EvalInterval < 0,
		"QueueSize": c.QueueSize < 0, "SendTimeout": c.SendTimeout < 0, "SendMaxAttempts": c.SendMaxAttempts < 0,
		"ShutdownGrace": c.ShutdownGrace < 0,
	} {
		if bad {
			errs = append(errs, fmt.Errorf("dispatcher: %s must not be negative", name))
		}
	}
	if c.WebhookURL != "" {
		if _, err := discord.ParseWebhookURL(c.WebhookURL); err != nil {
			errs = append(errs, fmt.Errorf("dispatcher: %w", err))
		}
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LogValue lets a Config be logged without its secret.
func (c Config) LogValue() slog.Value {
	hook := "none (dry run)"
	if c.WebhookURL != "" {
		if w, err := discord.ParseWebhookURL(c.WebhookURL); err == nil {
			hook = w.String()
		} else {
			hook = "[REDACTED, invalid]"
		}
	}
	return slog.GroupValue(
		slog.Any("brokers", c.Brokers),
		slog.String("aggregates_topic", c.AggregatesTopic),
		slog.String("dlq_topic", c.DLQTopic),
		slog.String("alerts_topic", c.AlertsTopic),
		slog.String("client_id", c.ClientID),
		slog.Duration("lookback", c.Lookback),
		slog.String("webhook", hook),
		slog.String("grafana_url", c.GrafanaURL),
		slog.Duration("cooldown", c.Cooldown),
		slog.Duration("eval_interval", c.EvalInterval),
		slog.Int("queue_size", c.QueueSize),
		slog.Any("rules", c.Rules),
	)
}

// String keeps fmt from printing the webhook URL.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v from printing the webhook URL.
func (c Config) GoString() string { return c.String() }
