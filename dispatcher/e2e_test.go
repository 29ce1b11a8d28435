//go:build e2e

package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/discord/discordtest"
	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

// TestE2E runs the dispatcher against a real broker ($KAFKA_BOOTSTRAP, e.g.
// from scripts/kafka/kafka.sh start): aggregates and dead letters written
// as the processor writes them, a DLQ spike that must reach the webhook
// exactly once and land on alerts.v1, and a restart that must not alert it
// again.
func TestE2E(t *testing.T) {
	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		t.Fatal("KAFKA_BOOTSTRAP is not set: start a broker with scripts/kafka/kafka.sh start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	suffix := fmt.Sprintf(".e2e%d", time.Now().UnixNano())
	aggTopic, dlqTopic, alertsTopic := "agg.window.v1"+suffix, "events.dlq.v1"+suffix, "alerts.v1"+suffix
	client := &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: 30 * time.Second}
	var tcs []kafka.TopicConfig
	for _, name := range []string{aggTopic, dlqTopic, alertsTopic} {
		tcs = append(tcs, kafka.TopicConfig{Topic: name, NumPartitions: 3, ReplicationFactor: 1})
	}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: tcs})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range res.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}

	// The recent past as the processor would have written it: 3 source
	// partitions, one window a minute, a trickle of dead letters (their
	// source offsets say about 1000 records a minute were read), then a
	// burst of invalid_json in the current minute.
	now := time.Now().UTC()
	minute := now.Truncate(time.Minute)
	var aggs, dlqs []kafka.Message
	for k := 20; k >= 1; k-- {
		ws := minute.Add(-time.Duration(k+1) * time.Minute)
		emitted := ws.Add(time.Minute + 5*time.Second)
		for p := int32(0); p < 3; p++ {
			r := &aggregate.Record{SchemaVersion: 1, WindowStart: event.FormatMillis(ws.UnixMilli()),
				WindowEnd: event.FormatMillis(ws.Add(time.Minute).UnixMilli()), SourcePartition: p, Revision: 1,
				Events: 1000, Users: 300, Sessions: 320, Orders: 40, PaymentFailures: 2, LateAccepted: 5,
				RevenueMinor: map[string]int64{"EUR": 30000 + 300*int64((k+int(p))%3)}}
			b, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			aggs = append(aggs, kafka.Message{Key: []byte(r.Key()), Value: b, Time: emitted})
		}
		for i := range 2 {
			dlqs = append(dlqs, deadLetter(event.InvalidJSON, minute.Add(-time.Duration(k)*time.Minute+time.Duration(i)*time.Second),
				int64(20-k)*1000+int64(i)*500))
		}
	}
	// All in the current minute, so the spike is one bucket of 150.
	burst := now.Add(-time.Second)
	if burst.Before(minute) {
		burst = minute
	}
	for i := range 150 {
		dlqs = append(dlqs, deadLetter(event.InvalidJSON, burst.Add(time.Duration(i)*time.Millisecond), 20000+int64(i)))
	}
	write(ctx, t, bootstrap, aggTopic, aggs)
	write(ctx, t, bootstrap, dlqTopic, dlqs)

	srv := discordtest.New()
	defer srv.Close()
	var logs syncBuffer
	run := func() (stop func(), reg *prometheus.Registry) {
		reg = prometheus.NewRegistry()
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			cfg := DefaultConfig()
			cfg.Brokers, cfg.AggregatesTopic, cfg.DLQTopic, cfg.AlertsTopic = []string{bootstrap}, aggTopic, dlqTopic, alertsTopic
			cfg.WebhookURL, cfg.EvalInterval, cfg.Registry = srv.WebhookURL(hookID, token), 200*time.Millisecond, reg
			cfg.LagGroup = "" // no raw topic here; e2e TestS6AlertsEndToEnd proves the lag export
			cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			done <- Run(rctx, cfg)
		}()
		return func() {
			rcancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}, reg
	}

	stop, reg := run()
	reqs := srv.WaitRequests(ctx, 1)
	if len(reqs) == 0 {
		t.Fatalf("no alert reached the webhook; logs:\n%s", logs.String())
	}
	waitEvaluations(ctx, t, reg, 10) // plenty of chances to repeat itself
	stop()
	reqs = srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("webhook got %d requests, want exactly 1: %+v", len(reqs), titles(reqs))
	}
	if e := reqs[0].Params.Embeds; len(e) != 1 || !strings.Contains(e[0].Title, "FIRING") || !strings.Contains(e[0].Title, "Dead-letter spike: malformed input") {
		t.Fatalf("embed %+v", titles(reqs))
	}
	t.Logf("webhook received: %s", titles(reqs))

	// The alert is on alerts.v1, keyed rule/incident_id.
	alerts := readAll(ctx, t, bootstrap, alertsTopic)
	if len(alerts) != 1 {
		t.Fatalf("alerts.v1 holds %d alerts, want 1", len(alerts))
	}
	a, err := incident.Unmarshal(alerts[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rule != "dlq_spike" || a.Dimension != "malformed" || a.Status != incident.Firing ||
		string(alerts[0].Key) != "dlq_spike/"+a.IncidentID || !strings.Contains(a.ValueText, "% of input (150 of ~") {
		t.Fatalf("alert on alerts.v1: key %s %+v", alerts[0].Key, a)
	}
	t.Logf("alerts.v1: key=%s value=%s", alerts[0].Key, alerts[0].Value)

	// A restarted dispatcher rebuilds from alerts.v1 and stays quiet.
	stop, reg = run()
	waitEvaluations(ctx, t, reg, 10)
	if v := metricValue(t, reg, MetricOpenIncidents, nil); v != 1 {
		t.Errorf("open incidents after restart = %v, want 1", v)
	}
	stop()
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("restart re-alerted: webhook has %d requests: %s", n, titles(srv.Requests()))
	}
	if n := len(readAll(ctx, t, bootstrap, alertsTopic)); n != 1 {
		t.Fatalf("restart wrote %d alerts, want still 1", n)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("token in logs")
	}
}

func deadLetter(reason event.Reason, at time.Time, offset int64) kafka.Message {
	l := &deadletter.Letter{Reason: reason, Error: "value is not valid JSON", Topic: "events.raw.v1", Partition: 0,
		Offset: offset, FailedAt: at, Key: []byte("user-7"), Value: []byte("{oops")}
	m := kafka.Message{Key: l.Key, Value: l.Value, Time: at}
	for _, h := range l.Headers() {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

func write(ctx context.Context, t *testing.T, bootstrap, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(bootstrap), Topic: topic, Balancer: &kafka.ReferenceHash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write %s: %v", topic, err)
	}
}

func readAll(ctx context.Context, t *testing.T, bootstrap, topic string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p := range 3 {
		conn, err := kafka.DialLeader(ctx, "tcp", bootstrap, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last <= first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootstrap}, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

func waitEvaluations(ctx context.Context, t *testing.T, reg *prometheus.Registry, n float64) {
	t.Helper()
	for {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == MetricEvaluations && mf.GetMetric()[0].GetCounter().GetValue() >= n {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("fewer than %v evaluations before the deadline", n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func titles(rs []discordtest.Request) []string {
	var out []string
	for _, r := range rs {
		for _, e := range r.Params.Embeds {
			out = append(out, e.Title)
		}
	}
	return out
}
