// Package incident is the alert lifecycle, pure and clock-free: a firing
// verdict opens an incident and yields exactly one firing Alert; while the
// incident is open nothing repeats; when the verdict turns healthy (and the
// cooldown since opening has passed) exactly one resolved Alert follows.
//
// Cooldown: an incident stays open for at least Cooldown. A healthy verdict
// inside the cooldown is not a resolve, and a verdict that fires again
// inside it is the same incident, so a flapping signal gives one
// firing/resolved pair per Cooldown at most, never a stream of messages.
//
// An open incident that gets no verdict at all for StaleAfter (its
// dimension vanished from the data, e.g. a currency no longer sold) is
// resolved as stale rather than left open forever.
//
// Every Alert is also the durable state: the dispatcher writes them to
// alerts.v1 and, on start, Restore replays that topic so a restarted
// dispatcher knows which incidents are open and does not alert them again.
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/event"
)

// SchemaVersion of the Alert record on alerts.v1.
const SchemaVersion = 1

// Status of an alert.
type Status string

// Statuses.
const (
	Firing   Status = "firing"
	Resolved Status = "resolved"
)

// Alert is one message about an incident: the value on alerts.v1 (key
// "rule/incident_id") and the content of one Discord embed.
type Alert struct {
	SchemaVersion int     `json:"schema_version"`
	AlertID       string  `json:"alert_id"`
	Rule          string  `json:"rule"`
	Dimension     string  `json:"dimension"`
	IncidentID    string  `json:"incident_id"`
	Status        Status  `json:"status"`
	Severity      string  `json:"severity"`
	Title         string  `json:"title"`
	Summary       string  `json:"summary"`
	Value         float64 `json:"value"`
	Baseline      float64 `json:"baseline"`
	Threshold     float64 `json:"threshold"`
	// The same for a human, with units ("4.9 % of input", "window end
	// unchanged for 4m12s"); BaselineText is empty when the rule has none.
	ValueText     string `json:"value_text,omitempty"`
	BaselineText  string `json:"baseline_text,omitempty"`
	ThresholdText string `json:"threshold_text,omitempty"`
	WindowStart   string `json:"window_start,omitempty"`
	WindowEnd     string `json:"window_end,omitempty"`
	FiredAt       string `json:"fired_at"`
	GrafanaURL    string `json:"grafana_url"`
}

// Key is the Kafka key on alerts.v1: both alerts of one incident share it,
// so they land in one partition, in order.
func (a *Alert) Key() string { return a.Rule + "/" + a.IncidentID }

// IncidentKey is "rule/dimension", the identity the lifecycle tracks.
func (a *Alert) IncidentKey() string { return a.Rule + "/" + a.Dimension }

// Marshal encodes the alert as JSON.
func (a *Alert) Marshal() ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.AlertID, err)
	}
	return b, nil
}

// Unmarshal decodes an alert and checks what Restore relies on.
func Unmarshal(b []byte) (*Alert, error) {
	var a Alert
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("decode alert: %w", err)
	}
	if a.SchemaVersion != SchemaVersion || a.Rule == "" || a.IncidentID == "" ||
		(a.Status != Firing && a.Status != Resolved) {
		return nil, fmt.Errorf("decode alert: not a v%d alert (schema_version %d, rule %q, incident_id %q, status %q)",
			SchemaVersion, a.SchemaVersion, a.Rule, a.IncidentID, a.Status)
	}
	if _, ok := event.ParseTime([]byte(a.FiredAt)); !ok {
		return nil, fmt.Errorf("decode alert %s: bad fired_at %q", a.AlertID, a.FiredAt)
	}
	return &a, nil
}

// Incident is an open incident.
type Incident struct {
	ID        string
	Rule      string
	Dimension string
	Severity  string
	Title     string
	OpenedAt  time.Time
}

// Key is "rule/dimension".
func (i *Incident) Key() string { return i.Rule + "/" + i.Dimension }

// Config of a Tracker. Start from DefaultConfig.
type Config struct {
	// Cooldown is the minimum life of an incident: at most one alert per
	// rule and dimension per Cooldown. Default 5m; 0 means none.
	Cooldown time.Duration
	// StaleAfter resolves an open incident that got no verdict for this
	// long (its currency or reason vanished). Default 30m; 0 means never.
	StaleAfter time.Duration
	// Link returns the Grafana URL for a verdict. Default nil: no link.
	Link func(r rules.Result, at time.Time) string
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{Cooldown: 5 * time.Minute, StaleAfter: 30 * time.Minute} }

// Validate says what is wrong with a configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("incident: Cooldown must not be negative, got %s", c.Cooldown))
	}
	if c.StaleAfter < 0 {
		errs = append(errs, fmt.Errorf("incident: StaleAfter must not be negative, got %s", c.StaleAfter))
	}
	return errors.Join(errs...)
}

// Tracker holds the open incidents. Not safe for concurrent use.
type Tracker struct {
	cooldown time.Duration
	stale    time.Duration
	link     func(rules.Result, time.Time) string
	open     map[string]*Incident
	// verdictAt is when an open incident's key last got a verdict (absent:
	// not yet since a restore).
	verdictAt map[string]time.Time
}

// NewTracker returns a tracker with no open incidents.
func NewTracker(cfg Config) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Tracker{cooldown: cfg.Cooldown, stale: cfg.StaleAfter, link: cfg.Link,
		open: map[string]*Incident{}, verdictAt: map[string]time.Time{}}, nil
}

// Apply feeds one round of verdicts at the given clock and returns the
// alerts to publish, in the order of the verdicts (stale resolutions
// last). Keys without a verdict keep their state until StaleAfter.
func (t *Tracker) Apply(now time.Time, results []rules.Result) []Alert {
	var out []Alert
	judged := make(map[string]bool, len(results))
	for _, r := range results {
		key := r.Key()
		judged[key] = true
		inc := t.open[key]
		if inc != nil {
			t.verdictAt[key] = now
		}
		switch {
		case r.Firing && inc == nil:
			inc = &Incident{ID: incidentID(key, now), Rule: r.Rule, Dimension: r.Dimension,
				Severity: string(r.Severity), Title: r.Title, OpenedAt: now}
			t.open[key] = inc
			t.verdictAt[key] = now
			out = append(out, t.alert(inc, Firing, r, now, r.Summary))
		case !r.Firing && inc != nil && now.Sub(inc.OpenedAt) >= t.cooldown:
			t.close(key)
			out = append(out, t.alert(inc, Resolved, r, now, "Resolved: "+r.Summary))
		}
	}
	for _, inc := range t.Open() {
		key := inc.Key()
		if judged[key] || t.stale == 0 {
			continue
		}
		last, ok := t.verdictAt[key]
		if !ok {
			last = now // restored: the clock starts now
			t.verdictAt[key] = now
		}
		if now.Sub(last) >= t.stale && now.Sub(inc.OpenedAt) >= t.cooldown {
			t.close(key)
			r := rules.Result{Rule: inc.Rule, Dimension: inc.Dimension}
			out = append(out, t.alert(&inc, Resolved, r, now, fmt.Sprintf(
				"Resolved as stale: no verdict for %s (the data this rule needs is no longer there)", t.stale)))
		}
	}
	return out
}

func (t *Tracker) alert(inc *Incident, st Status, r rules.Result, now time.Time, summary string) Alert {
	a := Alert{
		SchemaVersion: SchemaVersion, AlertID: inc.ID + "-" + string(st),
		Rule: inc.Rule, Dimension: inc.Dimension, IncidentID: inc.ID, Status: st,
		Severity: inc.Severity, Title: inc.Title, Summary: summary,
		Value: r.Value, Baseline: r.Baseline, Threshold: r.Threshold,
		ValueText: r.ValueText, BaselineText: r.BaselineText, ThresholdText: r.ThresholdText,
		FiredAt: event.FormatMillis(now.UnixMilli()),
	}
	if !r.WindowStart.IsZero() {
		a.WindowStart = event.FormatMillis(r.WindowStart.UnixMilli())
		a.WindowEnd = event.FormatMillis(r.WindowEnd.UnixMilli())
	}
	if t.link != nil {
		a.GrafanaURL = t.link(r, now)
	}
	return a
}

// incidentID is derived, not random: the same incident always gets the
// same id, so the alert ids written to alerts.v1 are stable keys for
// downstream deduplication.
func incidentID(key string, opened time.Time) string {
	h := sha256.Sum256([]byte(key + "@" + strconv.FormatInt(opened.UnixMilli(), 10)))
	return hex.EncodeToString(h[:8])
}

// Restore rebuilds the open incidents from alerts previously published, in
// any order (alerts.v1 has several partitions): they are replayed by
// fired_at, a firing alert opening its incident and the matching resolved
// alert closing it.
func (t *Tracker) Restore(alerts []*Alert) {
	type item struct {
		a  *Alert
		at int64
	}
	items := make([]item, 0, len(alerts))
	for _, a := range alerts {
		ms, ok := event.ParseTime([]byte(a.FiredAt))
		if !ok {
			continue
		}
		items = append(items, item{a, ms})
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].at != items[j].at {
			return items[i].at < items[j].at
		}
		return items[i].a.Status == Firing && items[j].a.Status != Firing
	})
	for _, it := range items {
		a, key := it.a, it.a.IncidentKey()
		switch a.Status {
		case Firing:
			t.open[key] = &Incident{ID: a.IncidentID, Rule: a.Rule, Dimension: a.Dimension,
				Severity: a.Severity, Title: a.Title, OpenedAt: time.UnixMilli(it.at).UTC()}
		case Resolved:
			if inc := t.open[key]; inc != nil && inc.ID == a.IncidentID {
				t.close(key)
			}
		}
	}
}

func (t *Tracker) close(key string) {
	delete(t.open, key)
	delete(t.verdictAt, key)
}

// Open returns the open incidents sorted by key.
func (t *Tracker) Open() []Incident {
	out := make([]Incident, 0, len(t.open))
	for _, inc := range t.open {
		out = append(out, *inc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// OpenCount is the number of open incidents.
func (t *Tracker) OpenCount() int { return len(t.open) }
