//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/discord/discordtest"
)

// TestS6AlertsEndToEnd is S6 through the whole pipeline on a real broker:
// producer → processor → dispatcher → a local stand-in for Discord's webhook.
// A burst of malformed messages raises one "DLQ spike" embed per reason, the
// first Discord answer is a 429 whose retry_after is honoured, and the alert
// lands on alerts.v1. (The revenue rules are exercised through the same
// processing path in dispatcher's tests; a producer cannot be told to stop
// selling.)
func TestS6AlertsEndToEnd(t *testing.T) {
	const partitions = 3
	b := brokers(t)
	ctx := testContext(t, 4*time.Minute)
	ts := newTopicSet(t, "alerts")
	createTopics(t, b, ts, partitions)
	win := []string{"--window", "10s", "--out-of-orderness", "2s", "--allowed-lateness", "20s", "--replay-retention", "1m"}

	srv := discordtest.New()
	defer srv.Close()
	// Discord first says "slow down" for 700 ms; the retry must wait for it.
	srv.Script(discordtest.Response{Status: 429, Body: `{"message":"You are being rate limited.","retry_after":0.7,"global":false}`,
		Header: map[string]string{"Retry-After": "1"}})
	webhook := srv.WebhookURL("123456", "s3cr3t-token")

	producer := startRole(t, "producer", append([]string{"producer", "--brokers", b, "--raw-topic", ts.Raw, "--rate", "300",
		"--start", "now", "--metrics-addr", "", "--malformed-ratio", "0", "--oversized-ratio", "0", "--future-ratio", "0",
		"--too-late-ratio", "0"}, win...)...)
	processor := startRole(t, "processor", append(processorArgs(b, ts, uniqueName(t, "group")), win...)...)
	dispatcher := startRole(t, "dispatcher", "dispatcher", "--brokers", b, "--agg-topic", ts.Agg, "--dlq-topic", ts.DLQ,
		"--alerts-topic", ts.Alerts, "--discord-webhook-url", webhook, "--discord-api-base", srv.APIBase(),
		"--metrics-addr", "", "--window", "10s", "--dlq-bucket", "5s", "--dlq-spike-floor", "20", "--baseline-windows", "6",
		"--eval-interval", "1s", "--lookback", "5m", "--cooldown", "10m")
	_ = producer
	processor.waitLog(t, restoredRE, partitions, time.Minute)
	time.Sleep(12 * time.Second) // a calm baseline first
	runRole(t, "chaos", time.Minute, "chaos", "malformed", "--brokers", b, "--raw-topic", ts.Raw, "--count", "600", "--seed", "5")

	// Wait for the spike embeds (one per malformed reason with enough volume).
	deadline := time.Now().Add(90 * time.Second)
	var spikes map[string]int
	for time.Now().Before(deadline) {
		spikes = map[string]int{}
		for _, r := range srv.Requests() {
			for _, e := range r.Params.Embeds {
				if strings.Contains(e.Title, "DLQ spike") && r.Status < 300 {
					spikes[e.Title]++
				}
			}
		}
		if spikes["🔥 FIRING · DLQ spike: invalid_json"]+spikes["DLQ spike: invalid_json"] > 0 || len(spikes) >= 2 {
			break
		}
		if err := dispatcher.alive(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	if len(spikes) == 0 {
		t.Fatalf("no DLQ spike embed reached the webhook; requests: %+v", srv.Requests())
	}
	time.Sleep(5 * time.Second) // room for (wrong) repeats
	reqs := srv.Requests()
	seen := map[string]int{}
	for _, r := range reqs {
		if r.Status >= 300 {
			continue
		}
		for _, e := range r.Params.Embeds {
			seen[e.Title]++
		}
	}
	for title, n := range seen {
		if strings.Contains(title, "DLQ spike") && n != 1 {
			t.Errorf("%q arrived %d times, want once (cooldown)", title, n)
		}
	}
	// The 429 was honoured: the retry came after retry_after, seen from the server.
	if len(reqs) < 2 || reqs[0].Status != 429 {
		t.Fatalf("the scripted 429 was not the first answer: %+v", reqs)
	}
	if gap := reqs[1].At.Sub(reqs[0].Responded); gap < 700*time.Millisecond {
		t.Fatalf("retried %s after a 429 with retry_after 0.7 s", gap)
	}
	// The token never reaches the logs.
	for _, p := range []*proc{dispatcher, processor, producer} {
		if strings.Contains(p.out.String(), "s3cr3t-token") {
			t.Fatalf("%s logged the webhook token", p.name)
		}
	}
	// And the alerts are on alerts.v1, keyed rule/incident.
	found := 0
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b}, Topic: ts.Alerts, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	for found == 0 {
		m, err := r.FetchMessage(actx)
		if err != nil {
			t.Fatalf("no alert on %s: %v", ts.Alerts, err)
		}
		var a struct{ Rule, Status string }
		if json.Unmarshal(m.Value, &a) == nil && a.Rule == "dlq_spike" && a.Status == "firing" && strings.HasPrefix(string(m.Key), "dlq_spike/") {
			found++
		}
	}
	t.Logf("webhook received %d requests; spike embeds: %v", len(reqs), fmt.Sprint(seen))
}
