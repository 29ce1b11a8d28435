package dispatcher

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamlab/streamlab/dispatcher/rules"
)

func TestConfigValidate(t *testing.T) {
	secret := "https://discord.com/api/webhooks/123/" + token
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"defaults", Config{}, ""},
		{"webhook", Config{WebhookURL: secret}, ""},
		{"bad webhook", Config{WebhookURL: "https://discord.com/api/hooks/123/" + token}, "unexpected path"},
		{"http webhook off loopback", Config{WebhookURL: "http://discord.com/api/webhooks/123/" + token}, "https"},
		{"same topic twice", Config{DLQTopic: "agg.window.v1"}, "both"},
		{"negative lookback", Config{Lookback: -time.Second}, "Lookback"},
		{"bad rule", Config{Rules: rules.Config{RevenueMinDrop: 3}}, "RevenueMinDrop"},
		{"empty broker", Config{Brokers: []string{" "}}, "broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.withDefaults().Validate()
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
	d := Config{}.withDefaults()
	if d.AggregatesTopic != "agg.window.v1" || d.DLQTopic != "events.dlq.v1" || d.AlertsTopic != "alerts.v1" ||
		d.ClientID != "streamlab-dispatcher" || d.Cooldown != 5*time.Minute || d.QueueSize != 256 || d.Lookback != 30*time.Minute ||
		d.Rules.DLQSpikeFloor != 20 || d.GrafanaURL != "http://localhost:3000" {
		t.Errorf("defaults: %+v", d)
	}
	if (Config{GrafanaURL: "-"}).withDefaults().GrafanaURL != "" {
		t.Error(`GrafanaURL "-" should disable links`)
	}
}

func TestConfigNeverPrintsTheWebhook(t *testing.T) {
	cfg := Config{WebhookURL: "https://discord.com/api/webhooks/123/" + token}.withDefaults()
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
	err := Run(ctx, Config{
		Brokers:    []string{"127.0.0.1:1"},
		WebhookURL: "https://discord.com/api/webhooks/123/" + token,
		Registry:   reg,
		Logger:     slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "waiting for Kafka topics") {
		t.Errorf("no wait logged:\n%s", out)
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
		MetricSendQueue, MetricSendRetries, MetricPublishErrors, MetricEvaluations} {
		if !names[n] {
			t.Errorf("metric %s not registered (have %v)", n, names)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := Run(context.Background(), Config{WebhookURL: "https://discord.com/api/webhooks/x/" + token})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("Run: %v", err)
	}
}

func TestServeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg, &logOnly{}); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stop, err := serveMetrics("127.0.0.1:0", reg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	i := strings.Index(logs.String(), "addr=")
	addr := strings.Fields(logs.String()[i+5:])[0]
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), MetricAlertsDropped) {
		t.Fatalf("/metrics:\n%s", body)
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
