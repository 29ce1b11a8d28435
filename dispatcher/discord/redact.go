package discord

import (
	"net/url"
	"strings"
)

// Redactor removes the webhook's secret from text. discordgo's errors embed
// the request URL (url.Error, RateLimitError) and a RESTError embeds the
// response body, which a misbehaving endpoint could make echo the path; so
// every error string passes through Redact before it is logged or returned.
type Redactor struct {
	secrets []string
}

// NewRedactor redacts the given secrets and their URL-escaped forms. Empty
// strings are ignored.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	for _, s := range secrets {
		for _, v := range []string{s, url.PathEscape(s), url.QueryEscape(s)} {
			if v != "" && !seen[v] {
				seen[v] = true
				r.secrets = append(r.secrets, v)
			}
		}
	}
	// Longest first, so a whole URL is replaced before the token inside it.
	for i := range r.secrets {
		for j := i + 1; j < len(r.secrets); j++ {
			if len(r.secrets[j]) > len(r.secrets[i]) {
				r.secrets[i], r.secrets[j] = r.secrets[j], r.secrets[i]
			}
		}
	}
	return r
}

// Redact returns s with every secret replaced by [REDACTED].
func (r *Redactor) Redact(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	return s
}

// Error returns the redacted text of err ("" for nil).
func (r *Redactor) Error(err error) string {
	if err == nil {
		return ""
	}
	return r.Redact(err.Error())
}
