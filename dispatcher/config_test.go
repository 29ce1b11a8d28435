package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/retry"
)

func TestConfigValidate(t *testing.T) {
	secret := "https://discord.com/api/webhooks/123/" + token
	with := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"defaults", DefaultConfig(), ""},
		{"webhook", with(func(c *Config) { c.WebhookURL = secret }), ""},
		{"no cooldown, never stale", with(func(c *Config) { c.Cooldown, c.StaleAfter = 0, 0 }), ""},
		{"lag export off, raw topic unset", with(func(c *Config) { c.LagGroup, c.LagTopic = "", "" }), ""},
		{"bad webhook", with(func(c *Config) { c.WebhookURL = "https://discord.com/api/hooks/123/" + token }), "WebhookURL is not a Discord webhook URL"},
		{"http webhook off loopback", with(func(c *Config) { c.WebhookURL = "http://discord.com/api/webhooks/123/" + token }), "https"},
		{"same topic twice", with(func(c *Config) { c.DLQTopic = "agg.window.v1" }), `DLQTopic is "agg.window.v1", like AggregatesTopic`},
		{"lag topic is the alerts topic", with(func(c *Config) { c.LagTopic = "alerts.v1" }), "LagTopic"},
		{"zero eval interval", with(func(c *Config) { c.EvalInterval = 0 }), "EvalInterval must be positive"},
		{"negative cooldown", with(func(c *Config) { c.Cooldown = -time.Second }), "Cooldown must not be negative"},
		{"zero queue", with(func(c *Config) { c.QueueSize = 0 }), "QueueSize must be at least 1"},
		{"negative connect timeout", with(func(c *Config) { c.Retry.Timeout = -time.Second }), "Retry: timeout must not be negative"},
		{"zero lag interval", with(func(c *Config) { c.LagInterval = 0 }), "LagInterval must be positive"},
		{"bad rule", with(func(c *Config) { c.Rules.RevenueMinDrop = 3 }), "RevenueMinDrop must be between 0 and 1"},
		{"short lookback", with(func(c *Config) { c.Rules.Lookback = 5 * time.Minute }), "Lookback 5m0s is shorter than the history the rules use, 19m0s"},
		{"zero floor multiple", with(func(c *Config) { c.Rules.DLQSpikeMultiple = 0 }), "DLQSpikeMultiple must be at least 1"},
		{"warm-up past the baseline", with(func(c *Config) { c.Rules.WarmupBuckets = 16 }), "WarmupBuckets must be between 1 and BaselineWindows (15)"},
		{"empty broker", with(func(c *Config) { c.Brokers = []string{" "} }), "Brokers must not contain an empty address"},
		{"no broker", with(func(c *Config) { c.Brokers = nil }), "Brokers must name at least one broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), token):
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
	d := DefaultConfig()
	if d.AggregatesTopic != "agg.window.v1" || d.DLQTopic != "events.dlq.v1" || d.AlertsTopic != "alerts.v1" ||
		d.ClientID != "streamlab-dispatcher" || d.Cooldown != 5*time.Minute || d.QueueSize != 256 || d.Rules.Lookback != 30*time.Minute ||
		d.Rules.DLQSpikeFloor != 20 || d.GrafanaURL != "http://localhost:3000" || d.Retry != retry.DefaultPolicy() ||
		d.LagGroup != "streamlab-processor" || d.LagTopic != "events.raw.v1" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestConfigNeverPrintsTheWebhook(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WebhookURL = "https://discord.com/api/webhooks/123/" + token
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", cfg)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "config", cfg)
	fmt.Fprintf(&buf, "%v %+v %#v %s", cfg, cfg, cfg, cfg)
	if strings.Contains(buf.String(), token) {
		t.Fatalf("token printed:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Fatalf("webhook not shown redacted:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Run with an unreachable broker waits (logging) and returns nil when its
// context ends; the metrics are registered on the given registry and the
// token appears nowhere.
func TestRunWithoutBrokerShutsDownCleanly(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.WebhookURL = "https://discord.com/api/webhooks/123/" + token
	cfg.Registry = reg
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, "not available yet; retrying"); n != 1 {
		t.Errorf("%d retry lines logged, want one (one per change of state):\n%s", n, out)
	}
	if !strings.Contains(out, "alert rules: dlq_spike/<malformed|oversized|future_event>: dead letters of one kind") {
		t.Errorf("rules not logged readably at start:\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Fatalf("token in logs:\n%s", out)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{MetricAlertsSent, MetricAlertsFailed, MetricAlertsDropped, MetricOpenIncidents,
		MetricSendQueue, MetricSendRetries, MetricPublishErrors, MetricEvaluations, MetricVerdicts, MetricLagErrors} {
		if !names[n] {
			t.Errorf("metric %s not registered (have %v)", n, names)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WebhookURL = "https://discord.com/api/webhooks/x/" + token
	err := Run(context.Background(), cfg)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("Run: %v", err)
	}
}

// A broker that never answers: Run gives up after ConnectTimeout with one
// error that says so, instead of waiting forever.
func TestRunGivesUpAfterConnectTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.Retry.Timeout = 1500 * time.Millisecond
	err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "find topics") || !errors.Is(err, retry.ErrGaveUp) {
		t.Fatalf("Run: %v", err)
	}
}

func TestGrafanaLinks(t *testing.T) {
	link := grafanaLinker("http://grafana:3000/")
	ws := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for rule, uid := range map[string]string{rules.DLQSpike: DashboardDeadLetters, rules.RevenueDrop: DashboardBusiness,
		rules.PaymentFailures: DashboardBusiness, rules.PipelineStall: DashboardPipeline, rules.LateSurge: DashboardPipeline} {
		got := link(rules.Result{Rule: rule, WindowStart: ws, WindowEnd: ws.Add(time.Minute)}, ws)
		want := fmt.Sprintf("http://grafana:3000/d/%s?from=%d&to=%d", uid, ws.Add(-15*time.Minute).UnixMilli(), ws.Add(16*time.Minute).UnixMilli())
		if got != want {
			t.Errorf("%s: %s, want %s", rule, got, want)
		}
	}
	if grafanaLinker("") != nil {
		t.Error("no base, no links")
	}
}

// dispatcher/README.md states every rule with the numbers the code runs with.
func TestReadmeStatesTheRules(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range DefaultConfig().Rules.Describe() {
		if !strings.Contains(string(b), "- "+line+"\n") {
			t.Errorf("README.md does not state:\n%s", line)
		}
	}
}
