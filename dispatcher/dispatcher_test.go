package dispatcher

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/discord"
	"github.com/streamlab/streamlab/dispatcher/discord/discordtest"
	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

const (
	hookID = "998877665544332211"
	token  = "SECRET_t0ken-for.tests"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// aggMsg is the message the processor writes for one window of one partition.
func aggMsg(t *testing.T, topic string, window int, part int32, rev int64, eur int64, at time.Time) kafka.Message {
	t.Helper()
	ws := t0.Add(time.Duration(window) * time.Minute)
	r := &aggregate.Record{
		SchemaVersion: 1, WindowStart: event.FormatMillis(ws.UnixMilli()), WindowEnd: event.FormatMillis(ws.Add(time.Minute).UnixMilli()),
		SourcePartition: part, Revision: rev, Events: 1000, Users: 300, Sessions: 320, Orders: 40, PaymentFailures: 2,
		LateAccepted: 5, RevenueMinor: map[string]int64{"EUR": eur},
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Partition: int(part), Key: []byte(r.Key()), Value: b, Time: at}
}

// dlqMsg is a dead letter as the processor writes it: original bytes,
// context in headers.
// offset is the dead letter's source offset on raw partition 1: the rules
// measure the input from it.
func dlqMsg(topic string, reason event.Reason, failedAt time.Time, replays int, offset int64) kafka.Message {
	l := &deadletter.Letter{Reason: reason, Error: "bad input", Topic: "events.raw.v1", Partition: 1, Offset: offset,
		FailedAt: failedAt, ReplayCount: replays, Key: []byte("user-1"), Value: []byte("{not json")}
	m := kafka.Message{Topic: topic, Key: l.Key, Value: l.Value, Time: failedAt}
	for _, h := range l.Headers() {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

// harness is the processing path with in-memory alerts.v1.
type harness struct {
	t         *testing.T
	cfg       Config
	core      *core
	reg       *prometheus.Registry
	mu        sync.Mutex
	published []incident.Alert
	fed       []kafka.Message
}

// testConfig is DefaultConfig with a quiet logger and the given cooldown.
func testConfig(cooldown time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Cooldown, cfg.Logger = cooldown, quietLogger()
	return cfg
}

func newHarness(t *testing.T, cfg Config, n Notifier, history []incident.Alert) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: cfg, reg: prometheus.NewRegistry()}
	m, err := newMetrics(h.reg, n)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := rules.New(cfg.Rules)
	if err != nil {
		t.Fatal(err)
	}
	tracker, err := incident.NewTracker(incident.Config{Cooldown: cfg.Cooldown, StaleAfter: cfg.StaleAfter, Link: grafanaLinker(cfg.GrafanaURL)})
	if err != nil {
		t.Fatal(err)
	}
	var ptrs []*incident.Alert
	for i := range history {
		b, _ := history[i].Marshal()
		a, err := incident.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		ptrs = append(ptrs, a)
	}
	tracker.Restore(ptrs)
	h.published = append(h.published, history...)
	h.core = newCore(cfg, cfg.Logger, engine, tracker, func(_ context.Context, as []incident.Alert) error {
		h.mu.Lock()
		h.published = append(h.published, as...)
		h.mu.Unlock()
		return nil
	}, n, m)
	return h
}

func (h *harness) feed(ms ...kafka.Message) {
	for _, m := range ms {
		h.core.handle(m)
	}
	h.fed = append(h.fed, ms...)
}

// evaluate returns the alerts this round raised.
func (h *harness) evaluate(now time.Time) []incident.Alert {
	h.mu.Lock()
	before := len(h.published)
	h.mu.Unlock()
	h.core.evaluate(context.Background(), now)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]incident.Alert(nil), h.published[before:]...)
}

// restart is a new dispatcher process: state rebuilt from alerts.v1, the
// lookback re-read.
func (h *harness) restart(n Notifier) *harness {
	h.mu.Lock()
	history := append([]incident.Alert(nil), h.published...)
	h.mu.Unlock()
	h2 := newHarness(h.t, h.cfg, n, history)
	h2.feed(h.fed...)
	return h2
}

func newSender(t *testing.T, url string, opts discord.Options) *discord.Sender {
	t.Helper()
	opts.WebhookURL = url
	s, err := discord.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

func keys(as []incident.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, string(a.Status)+" "+a.IncidentKey())
	}
	return out
}

// S6: a DLQ spike and a revenue drop each reach the webhook once as an
// embed, each resolve arrives once, and restarts in between re-alert nothing.
func TestSpikeAndRevenueDropReachDiscord(t *testing.T) {
	srv := discordtest.New()
	defer srv.Close()
	sender := newSender(t, srv.WebhookURL(hookID, token), discord.Options{Logger: quietLogger()})
	cfg := testConfig(90 * time.Second)
	cfg.GrafanaURL = "http://grafana.local:3000"
	h := newHarness(t, cfg, sender, nil)
	agg, dlq := h.cfg.AggregatesTopic, h.cfg.DLQTopic

	var raised []string
	for i := 1; i <= 31; i++ {
		// Window i-1 closes: all three partitions emit it.
		w := i - 1
		for p := int32(0); p < 3; p++ {
			eur := int64(30000 + 300*int64((w+int(p))%3))
			if w == 25 || w == 26 { // two windows in a row: one is noise (rules.Config.RevenueDropWindows)
				eur = 500
			}
			h.feed(aggMsg(t, agg, w, p, 1, eur, t0.Add(time.Duration(i)*time.Minute+5*time.Second)))
		}
		// A trickle of dead letters in 1000 records a minute, and a burst
		// in minute 15. Replays of that burst are operator noise and do
		// not count.
		n := 3
		if i == 15 {
			n = 200
		}
		for k := range n {
			at := t0.Add(time.Duration(i)*time.Minute + time.Duration(k)*100*time.Millisecond)
			h.feed(dlqMsg(dlq, event.InvalidJSON, at, 0, int64(i*1000+k)))
			if i == 20 {
				h.feed(dlqMsg(dlq, event.InvalidJSON, at, 1, int64(i*1000+500+k)))
			}
		}
		now := t0.Add(time.Duration(i)*time.Minute + 30*time.Second)
		for _, k := range keys(h.evaluate(now)) {
			raised = append(raised, fmt.Sprintf("%d %s", i, k))
		}
		// Restart while each incident is open: nothing is alerted again.
		if i == 16 || i == 28 {
			h = h.restart(sender)
			if again := h.evaluate(now); len(again) != 0 {
				t.Fatalf("step %d: restart re-alerted %v", i, keys(again))
			}
		}
	}
	// Window 26, the second low one, settles at step 28; the cooldown
	// (90 s) holds the healthy step 29, so the resolve comes at 30.
	want := []string{"15 firing dlq_spike/malformed", "17 resolved dlq_spike/malformed",
		"28 firing revenue_drop/EUR", "30 resolved revenue_drop/EUR"}
	if fmt.Sprint(raised) != fmt.Sprint(want) {
		t.Fatalf("alerts raised:\n%v\nwant\n%v", raised, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sender.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 4 {
		t.Fatalf("webhook got %d requests, want 4", len(reqs))
	}
	wantEmbeds := []struct {
		marker, title string
		colour        int
	}{
		{"FIRING", "Dead-letter spike: malformed input", discord.ColourWarning},
		{"RESOLVED", "Dead-letter spike: malformed input", discord.ColourResolved},
		{"FIRING", "Revenue drop: EUR", discord.ColourCritical},
		{"RESOLVED", "Revenue drop: EUR", discord.ColourResolved},
	}
	for i, r := range reqs {
		if r.ID != hookID || r.Token != token || len(r.Params.Embeds) != 1 {
			t.Fatalf("request %d: %+v", i, r)
		}
		e := r.Params.Embeds[0]
		w := wantEmbeds[i]
		if !strings.Contains(e.Title, w.marker) || !strings.Contains(e.Title, w.title) || e.Color != w.colour {
			t.Errorf("embed %d: title %q colour %#x, want %s %q %#x", i, e.Title, e.Color, w.marker, w.title, w.colour)
		}
		fields := map[string]string{}
		for _, f := range e.Fields {
			fields[f.Name] = f.Value
		}
		for _, name := range []string{"Window", "Value", "Baseline", "Threshold", "Dashboard"} {
			if fields[name] == "" {
				t.Errorf("embed %d lacks field %s", i, name)
			}
		}
		if !strings.HasPrefix(e.URL, "http://grafana.local:3000/d/streamlab-") {
			t.Errorf("embed %d links %q", i, e.URL)
		}
	}
	if v := reqs[0].Params.Embeds[0].Fields; !strings.Contains(fieldValue(v, "Value"), "% of input (200 of ~") {
		t.Errorf("spike value field %v", fieldValue(v, "Value"))
	}
	// Both alerts of an incident share its id and key on alerts.v1.
	pub := h.published
	if len(pub) != 4 || pub[0].Key() != pub[1].Key() || pub[2].Key() != pub[3].Key() || pub[0].Key() == pub[2].Key() {
		t.Fatalf("published %v", keys(pub))
	}
}

func fieldValue(fs []*discordgo.MessageEmbedField, name string) string {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// An upsert that heals the evaluated window resolves the incident.
func TestUpsertHealsIncident(t *testing.T) {
	n := &logOnly{}
	h := newHarness(t, testConfig(0), n, nil)
	agg := h.cfg.AggregatesTopic
	for w := 0; w <= 10; w++ {
		eur := int64(30000 + 500*(w%3))
		if w >= 9 {
			eur = 0 // revision 1 of the last two windows: orders still in flight
		}
		h.feed(aggMsg(t, agg, w, 0, 1, eur, t0.Add(time.Duration(w+1)*time.Minute+5*time.Second)))
	}
	now := t0.Add(12*time.Minute + 10*time.Second) // window 10 settled, no window 11 yet
	// Zero revenue with traffic also trips revenue_zero; the upsert heals both.
	if got := keys(h.evaluate(now)); fmt.Sprint(got) != "[firing revenue_drop/EUR firing revenue_zero/all]" {
		t.Fatalf("before upsert: %v", got)
	}
	h.feed(aggMsg(t, agg, 10, 0, 2, 30500, now.Add(5*time.Second)))
	if got := keys(h.evaluate(now.Add(10 * time.Second))); fmt.Sprint(got) != "[resolved revenue_drop/EUR resolved revenue_zero/all]" {
		t.Fatalf("after upsert: %v", got)
	}
	if n.Sent() != 4 {
		t.Fatalf("dry run logged %d alerts, want 4", n.Sent())
	}
}

// G6/S6: a hanging webhook does not slow consumption. The same message
// stream goes through the processing path with a healthy and with a
// hanging webhook (interleaved, best of three each); the hanging run must
// keep pace, and its queue must drop the oldest alerts and count them.
func TestHangingWebhookDoesNotSlowConsumer(t *testing.T) {
	const perMinute, minutes = 1000, 60
	cfg := testConfig(0)
	cfg.QueueSize = 8
	dlqTopic := cfg.DLQTopic
	// Every minute a burst of a new reason: one incident opens and the
	// previous one resolves, so alerts keep flowing to the queue.
	var stream [][]kafka.Message
	for j := range minutes {
		var batch []kafka.Message
		for k := range perMinute {
			reason := event.Reason(fmt.Sprintf("chaos_%02d", j))
			if k >= 40 {
				reason = event.SchemaViolation
			}
			at := t0.Add(time.Duration(j)*time.Minute + time.Duration(k)*time.Millisecond)
			batch = append(batch, dlqMsg(dlqTopic, reason, at, 0, int64(j*perMinute+k)))
		}
		stream = append(stream, batch)
	}
	run := func(url string) (time.Duration, *harness, *discord.Sender) {
		s := newSender(t, url, discord.Options{QueueSize: cfg.QueueSize, Timeout: time.Minute, Logger: quietLogger()})
		h := newHarness(t, cfg, s, nil)
		start := time.Now()
		for j, batch := range stream {
			h.feed(batch...)
			h.evaluate(t0.Add(time.Duration(j)*time.Minute + 50*time.Second))
		}
		return time.Since(start), h, s
	}

	healthy := discordtest.New()
	defer healthy.Close()
	hanging := discordtest.New()
	defer hanging.Close()
	hanging.SetFallback(discordtest.Response{Hang: true})

	var best [2]time.Duration
	var last *harness
	var lastSender *discord.Sender
	for round := range 3 {
		for i, url := range []string{healthy.WebhookURL(hookID, token), hanging.WebhookURL(hookID, token)} {
			d, h, s := run(url)
			if round == 0 || d < best[i] {
				best[i] = d
			}
			if i == 1 {
				last, lastSender = h, s
			}
		}
	}
	msgs := perMinute * minutes
	rate := func(d time.Duration) float64 { return float64(msgs) / d.Seconds() }
	t.Logf("%d messages, %d alerts per run: healthy webhook %.0f msg/s, hanging webhook %.0f msg/s (ratio %.2f)",
		msgs, len(last.published), rate(best[0]), rate(best[1]), best[1].Seconds()/best[0].Seconds())
	if best[1] > 3*best[0] {
		t.Fatalf("hanging webhook slowed consumption: %s vs %s", best[1], best[0])
	}
	// The hanging sender is stuck on its first request; everything else
	// queued was dropped oldest-first down to the queue size.
	alerts := len(last.published)
	if alerts < 4*cfg.QueueSize {
		t.Fatalf("only %d alerts raised; the test needs the queue to overflow", alerts)
	}
	if d, want := lastSender.Dropped(), int64(alerts-1-cfg.QueueSize); d != want {
		t.Errorf("dropped %d, want %d (alerts %d − 1 in flight − queue %d)", d, want, alerts, cfg.QueueSize)
	}
	if got := metricValue(t, last.reg, MetricAlertsDropped, nil); int64(got) != lastSender.Dropped() {
		t.Errorf("%s = %v, sender says %d", MetricAlertsDropped, got, lastSender.Dropped())
	}
	if got := metricValue(t, last.reg, MetricSendQueue, nil); int(got) != cfg.QueueSize {
		t.Errorf("%s = %v, want %d", MetricSendQueue, got, cfg.QueueSize)
	}
	hanging.Release()
}

// metricValue sums the samples of a metric whose labels include want.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	sample:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue sample
				}
			}
			found = true
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	if !found {
		t.Fatalf("metric %s%v not registered", name, want)
	}
	return sum
}
