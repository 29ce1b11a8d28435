package discord

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// transport sits under discordgo's HTTP client. It aims the requests that
// discordgo builds for discordgo.EndpointAPI at another base (the
// APIBase option: tests, the demo) without touching discordgo's global
// Endpoint variables, and it records the status and headers of the
// response so the sender can read Retry-After even when discordgo could not
// decode a 429 body (a proxy's HTML page, say).
type transport struct {
	base http.RoundTripper
	from string // discordgo.EndpointAPI at construction
	to   string // "" = no rewrite
}

type captureKey struct{}

// capture receives the last response's status and headers of one send.
type capture struct {
	status int
	header http.Header
}

func withCapture(ctx context.Context, c *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.to != "" {
		if s := req.URL.String(); strings.HasPrefix(s, t.from) {
			u, err := url.Parse(t.to + strings.TrimPrefix(s, t.from))
			if err != nil {
				return nil, err
			}
			r := req.Clone(req.Context())
			r.URL, r.Host = u, ""
			req = r
		}
	}
	resp, err := t.base.RoundTrip(req)
	if c, ok := req.Context().Value(captureKey{}).(*capture); ok && resp != nil {
		c.status, c.header = resp.StatusCode, resp.Header.Clone()
	}
	return resp, err
}
