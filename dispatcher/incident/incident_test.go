package incident

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/dispatcher/rules"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func verdict(key string, firing bool, value float64) rules.Result {
	rule, dim, _ := strings.Cut(key, "/")
	return rules.Result{Rule: rule, Dimension: dim, Firing: firing, Severity: rules.SeverityOf(rule),
		Title: "title of " + key, Summary: fmt.Sprintf("value %v", value), Value: value, Threshold: 20,
		ValueText: fmt.Sprintf("%v things", value), ThresholdText: "above 20 things",
		WindowStart: t0, WindowEnd: t0.Add(time.Minute)}
}

type step struct {
	at       time.Duration // after t0
	verdicts map[string]bool
	want     []string // "firing dlq_spike/invalid_json"
}

func run(t *testing.T, tr *Tracker, steps []step) []Alert {
	t.Helper()
	var all []Alert
	for i, s := range steps {
		var rs []rules.Result
		for _, k := range sortedKeys(s.verdicts) {
			rs = append(rs, verdict(k, s.verdicts[k], float64(i)))
		}
		got := []string{}
		for _, a := range tr.Apply(t0.Add(s.at), rs) {
			got = append(got, string(a.Status)+" "+a.IncidentKey())
			all = append(all, a)
		}
		want := s.want
		if want == nil {
			want = []string{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d at +%s: alerts %v, want %v", i, s.at, got, want)
		}
	}
	return all
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func tracker(t *testing.T, cooldown, staleAfter time.Duration, link func(rules.Result, time.Time) string) *Tracker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Cooldown, cfg.StaleAfter, cfg.Link = cooldown, staleAfter, link
	tr, err := NewTracker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Cooldown: -time.Second, StaleAfter: -time.Second}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "Cooldown must not be negative") || !strings.Contains(err.Error(), "StaleAfter must not be negative") {
		t.Fatalf("Validate() = %v", err)
	}
	if _, err := NewTracker(bad); err == nil {
		t.Fatal("NewTracker accepted a negative cooldown")
	}
}

const spike, drop = "dlq_spike/invalid_json", "revenue_drop/EUR"

func TestLifecycle(t *testing.T) {
	cases := []struct {
		name     string
		cooldown time.Duration
		steps    []step
	}{
		{
			name:     "spike opens once, repeats are suppressed, resolves when clear",
			cooldown: 5 * time.Minute,
			steps: []step{
				{0, map[string]bool{spike: false}, nil},
				{time.Minute, map[string]bool{spike: true}, []string{"firing " + spike}},
				{2 * time.Minute, map[string]bool{spike: true}, nil},
				{3 * time.Minute, map[string]bool{spike: true}, nil},
				{7 * time.Minute, map[string]bool{spike: false}, []string{"resolved " + spike}},
				{8 * time.Minute, map[string]bool{spike: false}, nil},
			},
		},
		{
			name:     "clear inside the cooldown holds; flapping back is the same incident",
			cooldown: 5 * time.Minute,
			steps: []step{
				{0, map[string]bool{spike: true}, []string{"firing " + spike}},
				{time.Minute, map[string]bool{spike: false}, nil},
				{2 * time.Minute, map[string]bool{spike: true}, nil},
				{3 * time.Minute, map[string]bool{spike: false}, nil},
				{5 * time.Minute, map[string]bool{spike: false}, []string{"resolved " + spike}},
				{6 * time.Minute, map[string]bool{spike: true}, []string{"firing " + spike}},
			},
		},
		{
			name:     "no verdict keeps the state",
			cooldown: time.Minute,
			steps: []step{
				{0, map[string]bool{drop: true}, []string{"firing " + drop}},
				{10 * time.Minute, map[string]bool{spike: false}, nil},
				{11 * time.Minute, map[string]bool{drop: false}, []string{"resolved " + drop}},
			},
		},
		{
			name:     "dimensions are independent incidents",
			cooldown: 0,
			steps: []step{
				{0, map[string]bool{spike: true, drop: true}, []string{"firing " + spike, "firing " + drop}},
				{time.Minute, map[string]bool{spike: false, drop: true}, []string{"resolved " + spike}},
				{2 * time.Minute, map[string]bool{"dlq_spike/late_event": true, drop: false},
					[]string{"firing dlq_spike/late_event", "resolved " + drop}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run(t, tracker(t, tc.cooldown, 30*time.Minute, nil), tc.steps)
		})
	}
}

func TestAlertRecord(t *testing.T) {
	tr := tracker(t, 0, 30*time.Minute, func(r rules.Result, at time.Time) string {
		return "http://grafana/d/x?from=" + r.WindowStart.Format(time.RFC3339)
	})
	as := run(t, tr, []step{
		{0, map[string]bool{spike: true}, []string{"firing " + spike}},
		{time.Minute, map[string]bool{spike: false}, []string{"resolved " + spike}},
	})
	f, r := as[0], as[1]
	if f.IncidentID == "" || f.IncidentID != r.IncidentID || f.AlertID == r.AlertID {
		t.Fatalf("ids: firing %s/%s resolved %s/%s", f.IncidentID, f.AlertID, r.IncidentID, r.AlertID)
	}
	if f.Key() != "dlq_spike/"+f.IncidentID || f.Key() != r.Key() {
		t.Errorf("kafka keys %q %q", f.Key(), r.Key())
	}
	if f.FiredAt != "2026-03-01T12:00:00.000Z" || r.FiredAt != "2026-03-01T12:01:00.000Z" {
		t.Errorf("fired_at %s %s", f.FiredAt, r.FiredAt)
	}
	if f.WindowStart != "2026-03-01T12:00:00.000Z" || f.WindowEnd != "2026-03-01T12:01:00.000Z" ||
		f.GrafanaURL != "http://grafana/d/x?from=2026-03-01T12:00:00Z" || f.Severity != "warning" || f.Threshold != 20 {
		t.Errorf("firing alert %+v", f)
	}
	if f.ValueText != "0 things" || f.ThresholdText != "above 20 things" || f.BaselineText != "" {
		t.Errorf("texts %q %q %q", f.ValueText, f.BaselineText, f.ThresholdText)
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "baseline_text") {
		t.Errorf("a rule without a baseline wrote a baseline text: %s", b)
	}
	for _, field := range []string{"schema_version", "alert_id", "rule", "dimension", "incident_id", "status", "severity",
		"title", "summary", "value", "baseline", "threshold", "value_text", "threshold_text", "window_start", "window_end", "fired_at", "grafana_url"} {
		if !strings.Contains(string(b), `"`+field+`":`) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
	back, err := Unmarshal(b)
	if err != nil || !reflect.DeepEqual(*back, f) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, f)
	}
	for _, bad := range []string{`{}`, `[]`, `{"schema_version":1,"rule":"x","incident_id":"y","status":"open","fired_at":"2026-03-01T12:00:00Z"}`,
		`{"schema_version":1,"rule":"x","incident_id":"y","status":"firing","fired_at":"yesterday"}`} {
		if _, err := Unmarshal([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// A restarted dispatcher rebuilds its state from alerts.v1 and does not
// alert an incident that is still open; one that was resolved can open anew.
func TestRestoreDoesNotRealert(t *testing.T) {
	first := tracker(t, time.Minute, 30*time.Minute, nil)
	published := run(t, first, []step{
		{0, map[string]bool{spike: true, drop: true, "late_surge/all": true}, []string{"firing " + spike, "firing late_surge/all", "firing " + drop}},
		{2 * time.Minute, map[string]bool{drop: false}, []string{"resolved " + drop}},
	})
	// alerts.v1 has several partitions: reading them gives any interleaving.
	var msgs []*Alert
	for i := len(published) - 1; i >= 0; i-- {
		b, _ := published[i].Marshal()
		a, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, a)
	}
	second := tracker(t, time.Minute, 30*time.Minute, nil)
	second.Restore(msgs)
	if got, want := second.OpenCount(), 2; got != want {
		t.Fatalf("open after restore: %d, want %d (%+v)", got, want, second.Open())
	}
	if !reflect.DeepEqual(second.Open(), first.Open()) {
		t.Fatalf("restored %+v\nwant %+v", second.Open(), first.Open())
	}
	run(t, second, []step{
		{3 * time.Minute, map[string]bool{spike: true, drop: true, "late_surge/all": false},
			[]string{"resolved late_surge/all", "firing " + drop}},
	})
	// The restored incident keeps its id: its resolve pairs with the
	// firing alert written before the restart.
	as := second.Apply(t0.Add(4*time.Minute), []rules.Result{verdict(spike, false, 0)})
	if len(as) != 1 || as[0].IncidentID != published[0].IncidentID || as[0].Status != Resolved {
		t.Fatalf("resolve after restore: %+v, want incident %s", as, published[0].IncidentID)
	}
}

// An incident whose dimension stops getting verdicts is closed as stale,
// once; a restored one gets the full StaleAfter from the restore.
func TestStaleIncidentResolves(t *testing.T) {
	tr := tracker(t, time.Minute, 10*time.Minute, nil)
	run(t, tr, []step{
		{0, map[string]bool{drop: true}, []string{"firing " + drop}},
		{5 * time.Minute, map[string]bool{drop: true}, nil},
		{14 * time.Minute, map[string]bool{spike: false}, nil},
		{15 * time.Minute, map[string]bool{spike: false}, []string{"resolved " + drop}},
		{30 * time.Minute, map[string]bool{spike: false}, nil},
	})

	first := tracker(t, time.Minute, 30*time.Minute, nil)
	as := first.Apply(t0, []rules.Result{verdict(drop, true, 1)})
	restored := tracker(t, time.Minute, 10*time.Minute, nil)
	restored.Restore([]*Alert{&as[0]})
	run(t, restored, []step{
		{20 * time.Minute, nil, nil}, // the clock starts at the first round after the restore
		{29 * time.Minute, nil, nil},
		{30 * time.Minute, nil, []string{"resolved " + drop}},
	})
	never := tracker(t, time.Minute, 0, nil)
	run(t, never, []step{
		{0, map[string]bool{drop: true}, []string{"firing " + drop}},
		{24 * time.Hour, nil, nil},
	})
}
