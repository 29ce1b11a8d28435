//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/discord/discordtest"
)

// The compose defaults, 30 times faster: 2-second windows and buckets, the
// producer's default chaos mix at 2000 events a second (4000 records a
// window, where the defaults have 12000 a minute), the cooldown and the
// lookback scaled alike. Thirty windows are thirty simulated minutes.
var (
	s6Window = []string{"--window", "2s", "--out-of-orderness", "200ms", "--allowed-lateness", "4s", "--replay-retention", "30s"}
	s6Rules  = []string{"--window", "2s", "--dlq-bucket", "2s", "--cooldown", "10s", "--lookback", "1m", "--eval-interval", "500ms"}
)

const s6Rate = "2000"

// TestS6AlertsEndToEnd is S6 and the operator's view on a real broker, one
// timeline through producer → processor → dispatcher → a local stand-in
// for Discord's webhook:
//
//  1. the dispatcher starts right after `streamlab topics create` (no
//     "Not Leader For Partition" death) and a healthy stack with the
//     default chaos mix raises no alert in 30 windows, while every rule is
//     judging (healthy verdicts counted on /metrics);
//  2. a malformed burst raises one alert and, after the cooldown, one
//     resolve; a late burst the same, from late_surge alone; the first
//     Discord answer is a 429 whose retry_after is honoured;
//  3. the processor is SIGKILLed while the producer runs: the lag exported
//     by the dispatcher grows, the stall fires once, and a dispatcher
//     restart neither resolves nor re-fires it;
//  4. the processor restarts: the lag returns to 0, the stall resolves once,
//     and the catch-up is not a spike of anything.
//
// Every wait is on a condition the system reports (webhook calls, topic
// contents, metrics), never on time alone.
func TestS6AlertsEndToEnd(t *testing.T) {
	const partitions = 3
	b := brokers(t)
	ctx := testContext(t, 10*time.Minute)
	ts := newTopicSet(t, "alerts")
	group := uniqueName(t, "group")

	srv := discordtest.New()
	defer srv.Close()
	// Discord first says "slow down" for 700 ms; the retry must wait for it.
	srv.Script(discordtest.Response{Status: 429, Body: `{"message":"You are being rate limited.","retry_after":0.7,"global":false}`,
		Header: map[string]string{"Retry-After": "1"}})
	webhook := srv.WebhookURL("123456", "s3cr3t-token")
	dispatcherArgs := append([]string{"dispatcher", "--brokers", b, "--agg-topic", ts.Agg, "--dlq-topic", ts.DLQ,
		"--alerts-topic", ts.Alerts, "--raw-topic", ts.Raw, "--lag-group", group, "--lag-interval", "500ms",
		"--discord-webhook-url", webhook, "--discord-api-base", srv.APIBase(), "--metrics-addr", "127.0.0.1:0"}, s6Rules...)

	// 1. The dispatcher starts the moment the topics exist.
	runRole(t, "topics create", 2*time.Minute, append([]string{"topics", "create", "--brokers", b, "--partitions",
		fmt.Sprint(partitions), "--retention", "87600h"}, ts.flags()...)...)
	disp := startRole(t, "dispatcher", dispatcherArgs...)
	disp.waitLog(t, regexp.MustCompile(`msg="(nothing to catch up on|caught up with the lookback); evaluating"`), 1, time.Minute)
	dm := disp.metricsAddr(t)

	prodArgs := append([]string{"producer", "--brokers", b, "--raw-topic", ts.Raw, "--rate", s6Rate,
		"--start", "now", "--metrics-addr", ""}, s6Window...)
	producer := startRole(t, "producer", prodArgs...)
	procArgs := append(processorArgs(b, ts, group, s6Window...), "--metrics-addr", "127.0.0.1:0")
	processor := startRole(t, "processor", procArgs...)
	alive := func() {
		t.Helper()
		for _, p := range []*proc{disp, producer, processor} {
			if err := p.alive(); err != nil {
				t.Fatal(err)
			}
		}
	}
	pm := processor.metricsAddr(t)
	waitCondition(t, ctx, "30 windows emitted by every partition", alive, func() (bool, string) {
		n := metricsPage(t, pm).sum("streamlab_processor_emissions_total", map[string]string{"kind": "first"})
		return n >= 30*partitions, fmt.Sprintf("%v first emissions", n)
	})
	// The silence is the rules judging: every rule gave healthy verdicts.
	for _, rule := range []string{"dlq_spike", "late_surge", "revenue_drop", "revenue_zero", "payment_failures", "pipeline_stall"} {
		m := metricsPage(t, dm)
		if h, f := m.sum("streamlab_dispatcher_verdicts_total", map[string]string{"rule": rule, "verdict": "healthy"}),
			m.sum("streamlab_dispatcher_verdicts_total", map[string]string{"rule": rule, "verdict": "firing"}); h == 0 || f != 0 {
			t.Errorf("%s: %v healthy and %v firing verdicts on the healthy stack", rule, h, f)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("the healthy stack raised %d alerts: %v", n, webhookTitles(srv.Requests()))
	}
	if n := countAlerts(t, ctx, b, ts.Alerts); n != 0 {
		t.Fatalf("the healthy stack wrote %d alerts", n)
	}
	t.Logf("healthy: 30 windows, no alert")

	// 2. One burst, one incident: one alert, one resolve.
	window := func(kind string) []string {
		return append([]string{"chaos", kind, "--brokers", b, "--raw-topic", ts.Raw, "--count", "400", "--seed", "5"}, s6Window...)
	}
	runRole(t, "chaos malformed", time.Minute, window("malformed")...)
	waitTitles(t, ctx, srv, alive, "🔥 FIRING · Dead-letter spike: malformed input", "✅ RESOLVED · Dead-letter spike: malformed input")
	runRole(t, "chaos late", time.Minute, window("late")...)
	waitTitles(t, ctx, srv, alive, "🔥 FIRING · Dead-letter spike: malformed input", "✅ RESOLVED · Dead-letter spike: malformed input",
		"🔥 FIRING · Late events dropped", "✅ RESOLVED · Late events dropped")
	reqs := srv.Requests()
	t.Logf("bursts: %q", webhookTitles(reqs))
	if reqs[0].Status != 429 {
		t.Fatalf("the scripted 429 was not the first answer: %+v", reqs[0])
	}
	if gap := reqs[1].At.Sub(reqs[0].Responded); gap < 700*time.Millisecond {
		t.Fatalf("retried %s after a 429 with retry_after 0.7 s", gap)
	}
	for _, f := range reqs[1].Params.Embeds[0].Fields {
		if f.Name == "Value" && !strings.Contains(f.Value, "% of input") {
			t.Errorf("the spike's value has no unit: %q", f.Value)
		}
	}

	// 3. A dead processor: the lag seen from outside grows, the stall fires.
	lagAt := func() (msgs, secs float64) {
		m := metricsPage(t, dm)
		sel := map[string]string{"group": group, "topic": ts.Raw}
		return m.sum("streamlab_consumer_group_lag_messages", sel), m.max("streamlab_consumer_group_lag_seconds", sel)
	}
	processor.kill(t)
	alive = func() {
		t.Helper()
		for _, p := range []*proc{disp, producer} {
			if err := p.alive(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var first float64
	waitCondition(t, ctx, "the lag of the dead processor to grow past 10 s", alive, func() (bool, string) {
		msgs, secs := lagAt()
		if first == 0 {
			first = msgs
		}
		return secs >= 10 && msgs > first, fmt.Sprintf("%v messages, %.1f s", msgs, secs)
	})
	msgs, secs := lagAt()
	t.Logf("processor dead: exported lag %v messages, %.1f s (first reading %v)", msgs, secs, first)
	bursts := []string{"🔥 FIRING · Dead-letter spike: malformed input", "✅ RESOLVED · Dead-letter spike: malformed input",
		"🔥 FIRING · Late events dropped", "✅ RESOLVED · Late events dropped"}
	stallTitle := "🔥 FIRING · Pipeline stall"
	waitTitles(t, ctx, srv, alive, append(bursts, stallTitle)...)

	// A dispatcher restart during the stall: rebuilt from the topics, the
	// stall is still open and still firing, and nothing is sent.
	before := len(srv.Requests())
	disp.stop(t, 30*time.Second)
	disp = startRole(t, "dispatcher (restarted)", dispatcherArgs...)
	dm = disp.metricsAddr(t)
	waitCondition(t, ctx, "the restarted dispatcher to judge the stall three times", alive, func() (bool, string) {
		f := metricsPage(t, dm).sum("streamlab_dispatcher_verdicts_total", map[string]string{"rule": "pipeline_stall", "verdict": "firing"})
		return f >= 3, fmt.Sprintf("%v firing verdicts", f)
	})
	if n := len(srv.Requests()); n != before {
		t.Fatalf("the restart sent %v", webhookTitles(srv.Requests()[before:]))
	}
	if v := metricsPage(t, dm).sum("streamlab_dispatcher_open_incidents", nil); v != 1 {
		t.Errorf("open incidents after the restart: %v, want the stall", v)
	}

	// 4. The processor is back: the lag returns to 0, the stall resolves.
	processor = startRole(t, "processor (restarted)", procArgs...)
	alive = func() {
		t.Helper()
		for _, p := range []*proc{disp, producer, processor} {
			if err := p.alive(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitCondition(t, ctx, "the processor to catch up", alive, func() (bool, string) {
		// The producer keeps writing: caught up is what is left between two
		// commits (500 ms at 2000/s, a checkpoint apart).
		msgs, secs := lagAt()
		return msgs < 4000 && secs < 3, fmt.Sprintf("%v messages, %.1f s", msgs, secs)
	})
	waitTitles(t, ctx, srv, alive, append(bursts, stallTitle, "✅ RESOLVED · Pipeline stall")...)
	// The catch-up went through the rules: ten more rounds of verdicts on
	// the dead letters, and still nothing but the stall's resolve.
	base := metricsPage(t, dm).sum("streamlab_dispatcher_verdicts_total", map[string]string{"rule": "dlq_spike", "verdict": "healthy"})
	waitCondition(t, ctx, "ten more rounds of dead-letter verdicts", alive, func() (bool, string) {
		h := metricsPage(t, dm).sum("streamlab_dispatcher_verdicts_total", map[string]string{"rule": "dlq_spike", "verdict": "healthy"})
		return h >= base+30, fmt.Sprintf("%v healthy verdicts", h)
	})
	want := append(bursts, stallTitle, "✅ RESOLVED · Pipeline stall")
	if got := webhookTitles(srv.Requests()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("webhook received %q, want %q", got, want)
	}
	if n := countAlerts(t, ctx, b, ts.Alerts); n != len(want) {
		t.Fatalf("%s holds %d alerts, want %d", ts.Alerts, n, len(want))
	}
	// With the producer stopped, the exported lag is exactly 0 once the
	// processor has committed the end of the topic.
	producer.stop(t, 30*time.Second)
	alive = func() {
		t.Helper()
		for _, p := range []*proc{disp, processor} {
			if err := p.alive(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitCondition(t, ctx, "the exported lag to return to 0", alive, func() (bool, string) {
		msgs, secs := lagAt()
		return msgs == 0 && secs == 0, fmt.Sprintf("%v messages, %.1f s", msgs, secs)
	})
	for _, p := range []*proc{disp, processor, producer} {
		if strings.Contains(p.out.String(), "s3cr3t-token") {
			t.Fatalf("%s logged the webhook token", p.name)
		}
	}
}

// A dispatcher pointed at topics that do not exist stops within seconds,
// non-zero, with one message naming the fix.
func TestDispatcherMissingTopic(t *testing.T) {
	b := brokers(t)
	ts := newTopicSet(t, "missing")
	began := time.Now()
	p := startRole(t, "dispatcher", "dispatcher", "--brokers", b, "--agg-topic", ts.Agg, "--dlq-topic", ts.DLQ,
		"--alerts-topic", ts.Alerts, "--raw-topic", ts.Raw, "--metrics-addr", "")
	err := p.wait(t, 30*time.Second)
	if err == nil || p.cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1; output:\n%s", err, p.out.tail(20))
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("took %s to give up on a missing topic", took)
	}
	if out := p.out.String(); !strings.Contains(out, "does not exist: create the topics with `streamlab topics create`") ||
		!strings.Contains(out, ts.Agg) {
		t.Fatalf("the error does not name the missing topic and the fix:\n%s", out)
	}
}

// waitCondition polls cond every 200 ms until it holds, failing the test at the
// context's deadline with cond's last word; alive is checked each round.
func waitCondition(t *testing.T, ctx context.Context, what string, alive func(), cond func() (bool, string)) {
	t.Helper()
	var last string
	for {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		alive()
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitTitles waits until the webhook has accepted exactly these embeds, in
// this order (a failed attempt, like the scripted 429, is not counted);
// one more than wanted fails at once.
func waitTitles(t *testing.T, ctx context.Context, srv *discordtest.Server, alive func(), want ...string) {
	t.Helper()
	waitCondition(t, ctx, fmt.Sprintf("the webhook to receive %q", want), alive, func() (bool, string) {
		got := webhookTitles(srv.Requests())
		if len(got) > len(want) || fmt.Sprint(got) != fmt.Sprint(want[:len(got)]) {
			t.Fatalf("webhook received %q, want %q", got, want)
		}
		return len(got) == len(want), fmt.Sprintf("%q so far", got)
	})
}

// webhookTitles lists the embed titles of the accepted webhook calls.
func webhookTitles(rs []discordtest.Request) []string {
	out := []string{}
	for _, r := range rs {
		if r.Status >= 300 {
			continue
		}
		for _, e := range r.Params.Embeds {
			out = append(out, e.Title)
		}
	}
	return out
}

// countAlerts reads the alerts topic and checks every record is an alert
// keyed rule/incident_id.
func countAlerts(t *testing.T, ctx context.Context, b, topic string) int {
	t.Helper()
	md, err := client(b).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %+v", topic, err, md)
	}
	partitions := len(md.Topics[0].Partitions)
	end, err := endOffsets(ctx, b, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for p := range partitions {
		if end[p] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b}, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			var a struct {
				Rule       string `json:"rule"`
				IncidentID string `json:"incident_id"`
			}
			if err := json.Unmarshal(m.Value, &a); err != nil || string(m.Key) != a.Rule+"/"+a.IncidentID {
				t.Fatalf("not an alert keyed rule/incident_id: key %q value %s", m.Key, m.Value)
			}
			n++
			if m.Offset+1 >= end[p] {
				break
			}
		}
		r.Close()
	}
	return n
}

// samples are the samples of one /metrics page.
type samples []struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// metricsPage reads a role's /metrics (Prometheus text format).
func metricsPage(t *testing.T, addr string) samples {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	var out samples
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := sampleRE.FindStringSubmatch(sc.Text())
		if m == nil || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		out = append(out, struct {
			name   string
			labels map[string]string
			value  float64
		}{m[1], labels, v})
	}
	return out
}

func (s samples) match(name string, sel map[string]string) []float64 {
	var vs []float64
next:
	for _, x := range s {
		if x.name != name {
			continue
		}
		for k, v := range sel {
			if x.labels[k] != v {
				continue next
			}
		}
		vs = append(vs, x.value)
	}
	return vs
}

func (s samples) sum(name string, sel map[string]string) float64 {
	var n float64
	for _, v := range s.match(name, sel) {
		n += v
	}
	return n
}

func (s samples) max(name string, sel map[string]string) float64 {
	var n float64
	for _, v := range s.match(name, sel) {
		n = max(n, v)
	}
	return n
}
