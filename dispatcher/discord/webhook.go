package discord

import (
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/bwmarrin/discordgo"
)

// Webhook is a parsed webhook URL. The token is the secret half: String,
// GoString and LogValue never show it, so a Webhook can be logged safely.
type Webhook struct {
	ID    string
	Token string
	// base is scheme://host/api/v<N>/ for a webhook that is not on a Discord
	// host (a local stand-in), "" for Discord itself.
	base string
	host string
}

// discordHosts are the hosts Discord hands out webhook URLs on.
var discordHosts = map[string]bool{
	"discord.com": true, "ptb.discord.com": true, "canary.discord.com": true,
	"discordapp.com": true, "ptb.discordapp.com": true, "canary.discordapp.com": true,
}

// ParseWebhookURL splits https://discord.com/api/webhooks/<id>/<token> (an
// /api/v<N>/ path and the ptb, canary and discordapp.com hosts are accepted
// too) into id and token. http:// is accepted for loopback hosts only, so
// tests and the offline demo can use a local stand-in. Errors say what is
// wrong without repeating the URL: it is a secret.
func ParseWebhookURL(raw string) (Webhook, error) {
	const form = "expected https://discord.com/api/webhooks/<id>/<token>"
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		// url.Parse's error quotes the input; do not wrap it.
		return Webhook{}, errors.New("discord webhook URL is not a valid absolute URL (" + form + ")")
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(host):
	default:
		return Webhook{}, errors.New("discord webhook URL must use https (http only for a loopback host)")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Webhook{}, errors.New("discord webhook URL must not carry user info, a query or a fragment (" + form + ")")
	}
	parts := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	if len(parts) == 5 && isAPIVersion(parts[1]) {
		parts = append(parts[:1], parts[2:]...)
	}
	if len(parts) != 4 || parts[0] != "api" || parts[1] != "webhooks" {
		return Webhook{}, errors.New("discord webhook URL has an unexpected path (" + form + ")")
	}
	id, token := parts[2], parts[3]
	if !allDigits(id) {
		return Webhook{}, errors.New("discord webhook id must be a number (" + form + ")")
	}
	if !validToken(token) {
		return Webhook{}, errors.New("discord webhook token has unexpected characters (" + form + ")")
	}
	w := Webhook{ID: id, Token: token, host: host}
	if !discordHosts[host] {
		w.base = u.Scheme + "://" + u.Host + "/api/v" + discordgo.APIVersion + "/"
	}
	return w, nil
}

// String shows the webhook without its token.
func (w Webhook) String() string {
	return "discord webhook " + w.host + "/" + w.ID + "/[REDACTED]"
}

// GoString keeps %#v from printing the token.
func (w Webhook) GoString() string { return w.String() }

func isAPIVersion(s string) bool { return len(s) > 1 && s[0] == 'v' && allDigits(s[1:]) }

func allDigits(s string) bool {
	if s == "" || len(s) > 25 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
