// Package discord delivers alerts to a Discord webhook as rich embeds, with
// discordgo, without ever holding up the caller: Enqueue never blocks (a
// bounded queue drops its oldest alert when full) and one goroutine sends,
// with a per-request timeout, its own handling of 429 (retry_after
// honoured, attempts capped) and exponential backoff with jitter on 5xx and
// network errors. The webhook token never reaches a log line or an error.
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/streamlab/streamlab/dispatcher/incident"
)

// Options of a Sender. Zero fields take the defaults in brackets.
type Options struct {
	// WebhookURL is the secret webhook URL (required).
	WebhookURL string
	// APIBase replaces discordgo.EndpointAPI (https://discord.com/api/v9/ in
	// discordgo v0.29) in request URLs; by
	// default it is derived from a non-Discord webhook host, so a loopback
	// stand-in server receives the requests.
	APIBase string
	// QueueSize bounds the alerts waiting to be sent [256].
	QueueSize int
	// Timeout is the per-request timeout, set as the HTTP client's [10s].
	Timeout time.Duration
	// MaxAttempts caps the tries of one alert, 429s included [5].
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff [500ms, 30s].
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Username shown on the messages ["streamlab"].
	Username string
	// Logger receives redacted logs [slog.Default()].
	Logger *slog.Logger
}

// Sender owns the queue and the session. Enqueue is safe for concurrent use;
// Run must be called once.
type Sender struct {
	hook     Webhook
	session  *discordgo.Session
	red      *Redactor
	log      *slog.Logger
	username string
	attempts int
	bbase    time.Duration
	bmax     time.Duration

	mu     sync.Mutex
	buf    []incident.Alert // ring
	head   int
	n      int
	wake   chan struct{}
	busy   atomic.Bool
	sent   atomic.Int64
	failed atomic.Int64
	drops  atomic.Int64
	rl     atomic.Int64
	errs   atomic.Int64
}

// New validates the options and prepares the session; nothing is sent
// until Run.
func New(opts Options) (*Sender, error) {
	hook, err := ParseWebhookURL(opts.WebhookURL)
	if err != nil {
		return nil, err
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = 256
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 5
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 500 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.Username == "" {
		opts.Username = "streamlab"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.QueueSize < 1 || opts.Timeout < 0 || opts.MaxAttempts < 1 || opts.BackoffBase < 0 || opts.BackoffMax < opts.BackoffBase {
		return nil, errors.New("discord: QueueSize and MaxAttempts must be at least 1, Timeout and backoffs not negative, BackoffMax ≥ BackoffBase")
	}
	base := hook.base
	if opts.APIBase != "" {
		base = opts.APIBase
	}
	if base != "" && base[len(base)-1] != '/' {
		base += "/"
	}

	s, err := discordgo.New("")
	if err != nil {
		return nil, fmt.Errorf("discord: session: %w", err)
	}
	// We handle 429 and 5xx ourselves: discordgo would otherwise retry 429s
	// forever and 502s three times, invisibly.
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	// discordgo's own logger prints request URLs (with the token); silence it.
	s.LogLevel = -1
	s.Client = &http.Client{
		Timeout:   opts.Timeout,
		Transport: &transport{base: http.DefaultTransport, from: discordgo.EndpointAPI, to: base},
	}
	return &Sender{
		hook: hook, session: s, red: NewRedactor(opts.WebhookURL, hook.Token),
		log: opts.Logger.With("webhook", hook.String()), username: opts.Username,
		attempts: opts.MaxAttempts, bbase: opts.BackoffBase, bmax: opts.BackoffMax,
		buf: make([]incident.Alert, opts.QueueSize), wake: make(chan struct{}, 1),
	}, nil
}

// Redactor returns the redactor for this webhook's secrets.
func (s *Sender) Redactor() *Redactor { return s.red }

// Counters for metrics.
func (s *Sender) Sent() int64        { return s.sent.Load() }
func (s *Sender) Failed() int64      { return s.failed.Load() }
func (s *Sender) Dropped() int64     { return s.drops.Load() }
func (s *Sender) RateLimited() int64 { return s.rl.Load() }
func (s *Sender) Retried() int64     { return s.errs.Load() }

// Len is the number of queued alerts (not counting one being sent).
func (s *Sender) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Enqueue queues an alert and returns at once. When the queue is full the
// oldest queued alert is dropped and counted: the newest news matters most,
// and a Discord outage must never push back on the pipeline.
func (s *Sender) Enqueue(a incident.Alert) {
	s.mu.Lock()
	var dropped *incident.Alert
	if s.n == len(s.buf) {
		old := s.buf[s.head]
		dropped = &old
		s.head = (s.head + 1) % len(s.buf)
		s.n--
	}
	s.buf[(s.head+s.n)%len(s.buf)] = a
	s.n++
	s.mu.Unlock()
	if dropped != nil {
		s.drops.Add(1)
		s.log.Warn("discord send queue full: dropped the oldest alert",
			"alert_id", dropped.AlertID, "incident", dropped.IncidentKey(), "status", dropped.Status)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Sender) pop() (incident.Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return incident.Alert{}, false
	}
	a := s.buf[s.head]
	s.buf[s.head] = incident.Alert{}
	s.head = (s.head + 1) % len(s.buf)
	s.n--
	s.busy.Store(true)
	return a, true
}

// Run sends queued alerts until ctx is done; an alert in flight is then
// abandoned (its request is cancelled).
func (s *Sender) Run(ctx context.Context) {
	for {
		a, ok := s.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		s.deliver(ctx, &a)
		s.busy.Store(false)
		if ctx.Err() != nil {
			return
		}
	}
}

// Flush waits until the queue is empty and nothing is in flight, or ctx is
// done (graceful shutdown gives the queue a bounded time to drain).
func (s *Sender) Flush(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.Len() > 0 || s.busy.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("discord: %d alerts still queued: %w", s.Len(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func (s *Sender) deliver(ctx context.Context, a *incident.Alert) {
	params := &discordgo.WebhookParams{
		Username: s.username,
		Embeds:   []*discordgo.MessageEmbed{Embed(a)},
		// Alert text may quote header values: never let it ping anyone.
		AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}},
	}
	log := s.log.With("alert_id", a.AlertID, "incident", a.IncidentKey(), "status", a.Status)
	for attempt := 1; ; attempt++ {
		c := &capture{}
		_, err := s.session.WebhookExecute(s.hook.ID, s.hook.Token, false, params,
			discordgo.WithContext(withCapture(ctx, c)))
		if err == nil {
			s.sent.Add(1)
			log.Info("alert sent to discord", "attempt", attempt)
			return
		}
		if ctx.Err() != nil {
			s.failed.Add(1)
			log.Warn("discord send abandoned at shutdown", "attempt", attempt, "error", s.red.Error(err))
			return
		}
		wait, retry, kind := s.classify(err, c, attempt)
		if !retry || attempt >= s.attempts {
			s.failed.Add(1)
			log.Error("discord send failed; giving up", "attempt", attempt, "kind", kind,
				"http_status", c.status, "error", s.red.Error(err))
			return
		}
		if kind == "rate_limited" {
			s.rl.Add(1)
		} else {
			s.errs.Add(1)
		}
		log.Warn("discord send failed; retrying", "attempt", attempt, "kind", kind,
			"http_status", c.status, "retry_in", wait.String(), "error", s.red.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.failed.Add(1)
			log.Warn("discord send abandoned at shutdown", "attempt", attempt)
			return
		case <-t.C:
		}
	}
}

// classify decides whether and when to retry.
func (s *Sender) classify(err error, c *capture, attempt int) (wait time.Duration, retry bool, kind string) {
	var rle *discordgo.RateLimitError
	if errors.As(err, &rle) || c.status == http.StatusTooManyRequests {
		wait = 0
		if rle != nil && rle.TooManyRequests != nil {
			wait = rle.RetryAfter // the JSON body's retry_after, the precise one
		}
		if wait <= 0 {
			wait = headerSeconds(c.header, "Retry-After")
		}
		if wait <= 0 {
			wait = headerSeconds(c.header, "X-RateLimit-Reset-After")
		}
		if wait <= 0 {
			wait = s.backoff(attempt)
		}
		return wait, true, "rate_limited"
	}
	status := c.status
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		status = re.Response.StatusCode
	}
	switch {
	case status >= 500 || status == http.StatusRequestTimeout:
		return s.backoff(attempt), true, "server_error"
	case status >= 400:
		// A bad request, a deleted webhook (404) or a revoked token (401):
		// retrying cannot help.
		return 0, false, "rejected"
	case status == 0:
		return s.backoff(attempt), true, "network"
	}
	// A 2xx/3xx that discordgo still failed on (an undecodable body).
	return s.backoff(attempt), true, "unexpected"
}

// backoff is exponential with "equal jitter": half fixed, half random, so
// retries spread out but never come back immediately.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.bbase << min(attempt-1, 30)
	if d > s.bmax || d <= 0 {
		d = s.bmax
	}
	half := d / 2
	return half + rand.N(half+1)
}

func headerSeconds(h http.Header, name string) time.Duration {
	v := h.Get(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 24*3600 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
