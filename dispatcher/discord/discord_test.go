package discord

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/streamlab/streamlab/dispatcher/discord/discordtest"
	"github.com/streamlab/streamlab/dispatcher/incident"
)

const (
	hookID = "112233445566778899"
	token  = "tok_SECRET-abc123XYZ.zz"
)

func alert(n int, status incident.Status, severity string) incident.Alert {
	return incident.Alert{
		SchemaVersion: 1, AlertID: fmt.Sprintf("inc%d-%s", n, status), Rule: "dlq_spike", Dimension: "malformed",
		IncidentID: fmt.Sprintf("inc%d", n), Status: status, Severity: severity, Title: "Dead-letter spike: malformed input",
		Summary: "120 malformed dead letters", Value: 0.05, Baseline: 0.01, Threshold: 0.03,
		ValueText: "5.0 % of input (120 of ~2400 records)", BaselineText: "1.0 % of input (median of 15 minutes)",
		ThresholdText: "above 3.0 % of input and 20 dead letters",
		WindowStart:   "2026-03-01T12:00:00.000Z", WindowEnd: "2026-03-01T12:01:00.000Z",
		FiredAt: "2026-03-01T12:01:05.000Z", GrafanaURL: "http://localhost:3000/d/streamlab-pipeline?from=1&to=2",
	}
}

type logBuf struct {
	buf bytes.Buffer
	mu  chan struct{}
}

// newLogger captures JSON logs (safe for concurrent writers).
func newLogger() (*slog.Logger, func() string) {
	lb := &logBuf{mu: make(chan struct{}, 1)}
	h := slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		lb.mu <- struct{}{}
		defer func() { <-lb.mu }()
		return lb.buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), func() string {
		lb.mu <- struct{}{}
		defer func() { <-lb.mu }()
		return lb.buf.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func newSender(t *testing.T, opts Options) *Sender {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger, _ = newLogger()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestParseWebhookURL(t *testing.T) {
	ok := []struct{ in, id, tok string }{
		{"https://discord.com/api/webhooks/123/abc_DEF-ghi", "123", "abc_DEF-ghi"},
		{"https://discordapp.com/api/v10/webhooks/123/abc/", "123", "abc"},
		{"  https://canary.discord.com/api/webhooks/9/t.k  ", "9", "t.k"},
		{"http://127.0.0.1:8080/api/webhooks/1/x", "1", "x"},
		{"http://localhost/api/v9/webhooks/1/x", "1", "x"},
	}
	for _, c := range ok {
		w, err := ParseWebhookURL(c.in)
		if err != nil || w.ID != c.id || w.Token != c.tok {
			t.Errorf("%q: %+v %v", c.in, w, err)
		}
		for _, s := range []string{w.String(), fmt.Sprintf("%v %+v %#v %s", w, w, w, w)} {
			if strings.Contains(s, c.tok) {
				t.Errorf("token shown by formatting: %s", s)
			}
		}
	}
	bad := []string{
		"", "discord.com/api/webhooks/1/SECRETTOKEN", "http://discord.com/api/webhooks/1/SECRETTOKEN",
		"https://discord.com/api/webhooks/abc/SECRETTOKEN", "https://discord.com/api/webhooks/1/SECRET TOKEN",
		"https://discord.com/api/webhooks/1", "https://discord.com/webhooks/1/SECRETTOKEN",
		"https://discord.com/api/webhooks/1/SECRETTOKEN?wait=true", "https://u:p@discord.com/api/webhooks/1/SECRETTOKEN",
		"https://discord.com/api/webhooks/1/SECRETTOKEN/extra", "ht!tp://%zz/SECRETTOKEN",
	}
	for _, in := range bad {
		_, err := ParseWebhookURL(in)
		if err == nil {
			t.Errorf("%q accepted", in)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%q: error repeats the secret: %v", in, err)
		}
	}
}

func TestEmbed(t *testing.T) {
	f := alert(1, incident.Firing, "critical")
	e := Embed(&f)
	if e.Color != ColourCritical || !strings.Contains(e.Title, "FIRING") || !strings.Contains(e.Title, f.Title) ||
		e.URL != f.GrafanaURL || e.Description != f.Summary || e.Timestamp != f.FiredAt {
		t.Errorf("firing embed %+v", e)
	}
	fields := map[string]string{}
	for _, fl := range e.Fields {
		fields[fl.Name] = fl.Value
	}
	for name, want := range map[string]string{
		"Window": "2026-03-01 12:00:00 – 2026-03-01 12:01:00 UTC", "Value": "5.0 % of input (120 of ~2400 records)",
		"Baseline": "1.0 % of input (median of 15 minutes)", "Threshold": "above 3.0 % of input and 20 dead letters",
		"Dashboard": "[Open in Grafana](" + f.GrafanaURL + ")",
	} {
		if fields[name] != want {
			t.Errorf("field %s = %q, want %q", name, fields[name], want)
		}
	}
	w := alert(1, incident.Firing, "warning")
	if Embed(&w).Color != ColourWarning {
		t.Error("warning colour")
	}
	// A rule without a baseline shows no Baseline field, not a "0".
	stall := alert(3, incident.Firing, "critical")
	stall.Baseline, stall.BaselineText = 0, ""
	stall.ValueText = "window end unchanged for 4m12s"
	for _, fl := range Embed(&stall).Fields {
		if fl.Name == "Baseline" {
			t.Errorf("embed of a rule without a baseline has a Baseline field %q", fl.Value)
		}
		if fl.Name == "Value" && fl.Value != "window end unchanged for 4m12s" {
			t.Errorf("stall value %q", fl.Value)
		}
	}
	r := alert(1, incident.Resolved, "critical")
	r.GrafanaURL = "javascript:alert(1)"
	re := Embed(&r)
	if re.Color != ColourResolved || !strings.Contains(re.Title, "RESOLVED") || re.URL != "" {
		t.Errorf("resolved embed %+v", re)
	}
	long := alert(2, incident.Firing, "warning")
	long.Title = strings.Repeat("x", 1000)
	if n := len([]rune(Embed(&long).Title)); n > maxTitle {
		t.Errorf("title of %d runes", n)
	}
}

func TestDelivers(t *testing.T) {
	srv := discordtest.New()
	defer srv.Close()
	s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token)})
	start(t, s)
	a := alert(1, incident.Firing, "critical")
	s.Enqueue(a)
	rs := srv.WaitRequests(ctxTimeout(t, 10*time.Second), 1)
	if len(rs) != 1 || rs[0].ID != hookID || rs[0].Token != token || rs[0].Path != "/api/v"+discordgo.APIVersion+"/webhooks/"+hookID+"/"+token {
		t.Fatalf("requests %+v", rs)
	}
	if len(rs[0].Params.Embeds) != 1 || rs[0].Params.Embeds[0].Color != ColourCritical || rs[0].Params.Username != "streamlab" {
		t.Fatalf("params %+v", rs[0].Params)
	}
	if err := s.Flush(ctxTimeout(t, 5*time.Second)); err != nil || s.Sent() != 1 {
		t.Fatalf("flush %v, sent %d", err, s.Sent())
	}
}

// The APIBase option aims a real discord.com webhook URL at another server.
func TestAPIBase(t *testing.T) {
	srv := discordtest.New()
	defer srv.Close()
	s := newSender(t, Options{WebhookURL: "https://discord.com/api/webhooks/" + hookID + "/" + token, APIBase: srv.APIBase()})
	start(t, s)
	s.Enqueue(alert(1, incident.Firing, "warning"))
	if rs := srv.WaitRequests(ctxTimeout(t, 10*time.Second), 1); len(rs) != 1 || rs[0].Token != token {
		t.Fatalf("requests %+v", rs)
	}
}

// A 429 is honoured: the retry comes no sooner than retry_after after the
// 429 was answered (measured on the server).
func TestRateLimitHonoured(t *testing.T) {
	cases := []struct {
		name string
		resp discordtest.Response
		want time.Duration
	}{
		{"json retry_after", discordtest.Response{Status: 429,
			Body: `{"message": "You are being rate limited.", "retry_after": 0.35, "global": false}`}, 350 * time.Millisecond},
		{"Retry-After header, body not JSON", discordtest.Response{Status: 429, Body: "<html>slow down</html>",
			Header: map[string]string{"Content-Type": "text/html", "Retry-After": "1"}}, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := discordtest.New()
			defer srv.Close()
			srv.Script(tc.resp)
			s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token), BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
			start(t, s)
			s.Enqueue(alert(1, incident.Firing, "warning"))
			rs := srv.WaitRequests(ctxTimeout(t, 10*time.Second), 2)
			if len(rs) != 2 || rs[0].Status != 429 || rs[1].Status != 204 {
				t.Fatalf("requests %+v", rs)
			}
			gap := rs[1].At.Sub(rs[0].Responded)
			t.Logf("429 answered, retry arrived %s later (retry_after %s)", gap, tc.want)
			if gap < tc.want {
				t.Fatalf("retry after %s, want ≥ %s", gap, tc.want)
			}
			if err := s.Flush(ctxTimeout(t, 5*time.Second)); err != nil || s.Sent() != 1 || s.RateLimited() != 1 {
				t.Fatalf("flush %v sent %d rate-limited %d", err, s.Sent(), s.RateLimited())
			}
		})
	}
}

func TestRetriesAndGivesUp(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		srv := discordtest.New()
		defer srv.Close()
		srv.Script(discordtest.Response{Status: 500}, discordtest.Response{Status: 502}, discordtest.Response{Status: 503})
		s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token), BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
		start(t, s)
		s.Enqueue(alert(1, incident.Firing, "warning"))
		if err := s.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 4 || s.Sent() != 1 || s.Retried() != 3 || s.Failed() != 0 {
			t.Fatalf("requests %d sent %d retried %d failed %d", n, s.Sent(), s.Retried(), s.Failed())
		}
	})
	t.Run("attempts are capped, 429s included", func(t *testing.T) {
		srv := discordtest.New()
		defer srv.Close()
		srv.SetFallback(discordtest.Response{Status: 429, Body: `{"retry_after": 0.001}`})
		s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token), MaxAttempts: 3})
		start(t, s)
		s.Enqueue(alert(1, incident.Firing, "warning"))
		if err := s.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 3 || s.Failed() != 1 || s.Sent() != 0 {
			t.Fatalf("requests %d failed %d sent %d", n, s.Failed(), s.Sent())
		}
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		srv := discordtest.New()
		defer srv.Close()
		srv.Script(discordtest.Response{Status: 404, Body: `{"message": "Unknown Webhook", "code": 10015}`})
		s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token)})
		start(t, s)
		s.Enqueue(alert(1, incident.Firing, "warning"))
		s.Enqueue(alert(2, incident.Firing, "warning"))
		if err := s.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 2 || s.Failed() != 1 || s.Sent() != 1 {
			t.Fatalf("requests %d failed %d sent %d", n, s.Failed(), s.Sent())
		}
	})
	t.Run("a hanging request times out and is retried", func(t *testing.T) {
		srv := discordtest.New()
		defer srv.Close()
		srv.Script(discordtest.Response{Hang: true})
		s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token), Timeout: 200 * time.Millisecond,
			BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
		start(t, s)
		s.Enqueue(alert(1, incident.Firing, "warning"))
		if err := s.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 2 || s.Sent() != 1 || s.Retried() != 1 {
			t.Fatalf("requests %d sent %d retried %d", n, s.Sent(), s.Retried())
		}
	})
}

// Enqueue never blocks: with the sender stuck on a hanging webhook the
// queue keeps the newest alerts and counts the dropped oldest ones.
func TestQueueDropsOldest(t *testing.T) {
	srv := discordtest.New()
	defer srv.Close()
	srv.Script(discordtest.Response{Hang: true})
	const size, extra = 8, 5
	s := newSender(t, Options{WebhookURL: srv.WebhookURL(hookID, token), QueueSize: size, Timeout: time.Minute})
	start(t, s)
	s.Enqueue(alert(0, incident.Firing, "warning")) // taken by the sender, hangs
	srv.WaitRequests(ctxTimeout(t, 10*time.Second), 1)
	for i := 1; i <= size+extra; i++ {
		s.Enqueue(alert(i, incident.Firing, "warning"))
	}
	if s.Dropped() != extra || s.Len() != size {
		t.Fatalf("dropped %d (want %d), queued %d (want %d)", s.Dropped(), extra, s.Len(), size)
	}
	srv.Release()
	if err := s.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	rs := srv.Requests()
	var got []string
	for _, r := range rs[1:] {
		got = append(got, r.Params.Embeds[0].Footer.Text[strings.LastIndex(r.Params.Embeds[0].Footer.Text, " ")+1:])
	}
	want := []string{}
	for i := extra + 1; i <= size+extra; i++ {
		want = append(want, fmt.Sprintf("inc%d", i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered after release %v, want the newest %v", got, want)
	}
}

// Whatever goes wrong, neither the token nor the URL reaches the logs.
func TestTokenNeverLogged(t *testing.T) {
	echo := discordtest.New() // answers with bodies that quote the request path
	defer echo.Close()
	path := "/api/v" + discordgo.APIVersion + "/webhooks/" + hookID + "/" + token
	echo.Script(
		discordtest.Response{Status: 500, Body: `{"message": "boom at ` + path + `"}`},
		discordtest.Response{Status: 429, Body: `{"message": "` + path + `", "retry_after": 0.001}`},
		discordtest.Response{Status: 403, Body: `{"message": "forbidden ` + echo.WebhookURL(hookID, token) + `"}`},
		discordtest.Response{Hang: true},
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	log, logs := newLogger()
	for _, url := range []string{echo.WebhookURL(hookID, token), dead + "/api/webhooks/" + hookID + "/" + token} {
		s := newSender(t, Options{WebhookURL: url, Logger: log, MaxAttempts: 3, Timeout: 300 * time.Millisecond,
			BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		s.Enqueue(alert(1, incident.Firing, "warning"))
		s.Enqueue(alert(2, incident.Firing, "warning"))
		if err := s.Flush(ctxTimeout(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Redactor output is what callers use for their own errors.
		if r := s.Redactor().Redact("failed: " + url); strings.Contains(r, token) {
			t.Errorf("redactor left the token: %s", r)
		}
		cancel()
		<-done
		if s.Failed() == 0 {
			t.Errorf("%s: expected failures", s.hook)
		}
	}
	out := logs()
	t.Logf("captured logs:\n%s", out)
	if !strings.Contains(out, "discord send failed") || !strings.Contains(out, "[REDACTED]") {
		t.Fatalf("the failures were not logged (or nothing needed redacting):\n%s", out)
	}
	if strings.Contains(out, token) || strings.Contains(out, "/webhooks/"+hookID+"/tok") {
		t.Fatalf("token in logs:\n%s", out)
	}
}
