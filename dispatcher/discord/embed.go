package discord

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/event"
)

// Embed colours: red for critical, amber for warning, green for resolved.
const (
	ColourCritical = 0xD83C3E
	ColourWarning  = 0xF0A020
	ColourInfo     = 0x3B82F6
	ColourResolved = 0x2EB67D
)

// Discord's embed limits (characters).
const (
	maxTitle       = 256
	maxDescription = 4096
	maxFieldValue  = 1024
	maxFooter      = 2048
)

// Colour returns the embed colour for an alert.
func Colour(a *incident.Alert) int {
	if a.Status == incident.Resolved {
		return ColourResolved
	}
	switch a.Severity {
	case "critical":
		return ColourCritical
	case "warning":
		return ColourWarning
	}
	return ColourInfo
}

// Embed renders an alert as a Discord embed.
func Embed(a *incident.Alert) *discordgo.MessageEmbed {
	marker := "🔥 FIRING"
	if a.Status == incident.Resolved {
		marker = "✅ RESOLVED"
	}
	e := &discordgo.MessageEmbed{
		Title:       clip(marker+" · "+a.Title, maxTitle),
		Description: clip(a.Summary, maxDescription),
		Color:       Colour(a),
		Timestamp:   a.FiredAt,
		Footer:      &discordgo.MessageEmbedFooter{Text: clip("streamlab dispatcher · "+a.IncidentKey()+" · incident "+a.IncidentID, maxFooter)},
	}
	link := safeLink(a.GrafanaURL)
	if link != "" {
		e.URL = link
	}
	field := func(name, value string, inline bool) {
		if value != "" {
			e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: clip(value, maxFieldValue), Inline: inline})
		}
	}
	if a.WindowStart != "" {
		field("Window", clock(a.WindowStart)+" – "+clock(a.WindowEnd)+" UTC", false)
	}
	// The texts carry the units; a rule without a baseline has no
	// baseline text, and no Baseline field rather than a misleading 0.
	field("Value", a.ValueText, true)
	field("Baseline", a.BaselineText, true)
	field("Threshold", a.ThresholdText, true)
	field("Severity", a.Severity, true)
	field("Rule", "`"+a.IncidentKey()+"`", true)
	if link != "" {
		field("Dashboard", "[Open in Grafana]("+link+")", false)
	}
	return e
}

// clock shows an RFC 3339 time as "2006-01-02 15:04:05".
func clock(s string) string {
	ms, ok := event.ParseTime([]byte(s))
	if !ok {
		return s
	}
	return time.UnixMilli(ms).UTC().Format(time.DateTime)
}

// safeLink keeps only http(s) links: Discord rejects anything else and a
// bad link would fail the whole message.
func safeLink(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	var b strings.Builder
	for i, r := range []rune(s) {
		if i == n-1 {
			break
		}
		b.WriteRune(r)
	}
	return b.String() + "…"
}
