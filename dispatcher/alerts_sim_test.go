package dispatcher

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/dispatcher/rules"
	"github.com/streamlab/streamlab/internal/gen"
)

// The compose defaults with nothing injected raise no alert: not in the
// first evaluation (the dispatcher starts with the stack), not in 30
// minutes, not after a restart at minute 17. And the silence is the rules
// judging, not the rules asleep: every rule gave healthy verdicts after the
// restart.
func TestDefaultStackIsQuiet(t *testing.T) {
	t.Parallel()
	s := newSimStack(t)
	d := &simDispatcher{t: t, cfg: simConfig()}
	var restarted []string
	got := timeline(t, s, d, 30*time.Minute, func(now time.Time) {
		if now.Sub(simStart) == 17*time.Minute {
			for _, a := range d.start(s, now) {
				restarted = append(restarted, a.IncidentKey())
			}
		}
	})
	if len(got) != 0 || len(restarted) != 0 {
		t.Fatalf("a healthy default stack raised %v (and %v on restart)", alertKeys(got), restarted)
	}
	for _, r := range rules.Names() {
		if h, f := d.verdicts(r, "healthy"), d.verdicts(r, "firing"); h == 0 || f != 0 {
			t.Errorf("%s: %v healthy and %v firing verdicts in the 13 minutes after the restart, want some healthy and none firing", r, h, f)
		}
	}
}

// One cause, one incident: a malformed burst in minute 2 (the dispatcher
// started with the stack, so two minutes of history) raises exactly one
// alert and, after the cooldown, one resolve; a late burst in minute 15 the
// same, from late_surge alone (dlq_spike does not own late_event).
func TestChaosBurstIsOneIncident(t *testing.T) {
	t.Parallel()
	s := newSimStack(t)
	d := &simDispatcher{t: t, cfg: simConfig()}
	malformedAt, lateAt := 2*time.Minute+10*time.Second, 15*time.Minute+10*time.Second
	got := timeline(t, s, d, 30*time.Minute, func(now time.Time) {
		switch now.Sub(simStart) {
		case malformedAt:
			s.chaos(gen.Malformed, 500, now)
		case lateAt:
			s.chaos(gen.TooLate, 500, now)
		}
	})
	want := []string{"firing dlq_spike/malformed", "resolved dlq_spike/malformed", "firing late_surge/all", "resolved late_surge/all"}
	if fmt.Sprint(alertKeys(got)) != fmt.Sprint(want) {
		t.Fatalf("alerts %v, want %v", alertKeys(got), want)
	}
	for i, burst := range []time.Duration{malformedAt, lateAt} {
		fired, resolved := got[2*i], got[2*i+1]
		if fired.at < burst || fired.at > burst+time.Minute {
			t.Errorf("%s fired at +%s, burst at +%s", fired.a.IncidentKey(), fired.at, burst)
		}
		if resolved.at < fired.at+d.cfg.Cooldown || resolved.at > fired.at+d.cfg.Cooldown+2*time.Minute {
			t.Errorf("%s resolved at +%s, fired at +%s, cooldown %s", resolved.a.IncidentKey(), resolved.at, fired.at, d.cfg.Cooldown)
		}
		a := fired.a
		if !strings.Contains(a.ValueText, "% of input") || !strings.Contains(a.BaselineText, "% of input (median of") ||
			!strings.HasPrefix(a.ThresholdText, "above ") {
			t.Errorf("%s texts: value %q baseline %q threshold %q", a.IncidentKey(), a.ValueText, a.BaselineText, a.ThresholdText)
		}
	}
	if s := got[0].a.Summary; !strings.Contains(s, "invalid_json") || !strings.Contains(s, "schema_violation") {
		t.Errorf("the malformed alert does not break the burst down by reason: %s", s)
	}
}

// A stall measured from the data: the processor is killed in minute 8, the
// stall fires once; dispatcher restarts in minute 13 and in minute 38 (the
// newest window then older than the 30-minute lookback) neither resolve nor
// re-fire it; the processor's restart in minute 39 resolves it once, and its
// catch-up through 31 minutes of backlog is not a spike of anything.
func TestStallAcrossRestarts(t *testing.T) {
	t.Parallel()
	s := newSimStack(t)
	s.snapshotFrom = simStart.Add(8*time.Minute - 2*simCheckpoint)
	d := &simDispatcher{t: t, cfg: simConfig()}
	var onRestart []string
	got := timeline(t, s, d, 45*time.Minute, func(now time.Time) {
		switch now.Sub(simStart) {
		case 8 * time.Minute:
			s.kill()
		case 13 * time.Minute, 38 * time.Minute:
			for _, a := range d.start(s, now) {
				onRestart = append(onRestart, a.IncidentKey())
			}
			if d.core.tracker.OpenCount() != 1 {
				t.Errorf("+%s: %d incidents open after the restart, want the stall", now.Sub(simStart), d.core.tracker.OpenCount())
			}
			if f := d.verdicts(rules.PipelineStall, "firing"); f != 1 {
				t.Errorf("+%s: the restarted dispatcher's first verdict on the stall: %v firing, want 1", now.Sub(simStart), f)
			}
		case 39 * time.Minute:
			s.restart(now)
		}
	})
	want := []string{"firing pipeline_stall/all", "resolved pipeline_stall/all"}
	if fmt.Sprint(alertKeys(got)) != fmt.Sprint(want) || len(onRestart) != 0 {
		t.Fatalf("alerts %v (on restart %v), want %v", alertKeys(got), onRestart, want)
	}
	fired, resolved := got[0], got[1]
	// At the kill the newest window was [+6m, +7m), written at +7m05s
	// (the watermark trails by 5 s); the limit is 3 windows.
	if fired.at < 10*time.Minute+5*time.Second || fired.at > 10*time.Minute+15*time.Second {
		t.Errorf("stall fired at +%s, want at +10m05s…+10m15s", fired.at)
	}
	if resolved.at < 39*time.Minute || resolved.at > 40*time.Minute {
		t.Errorf("stall resolved at +%s, processor back at +39m", resolved.at)
	}
	if a := fired.a; a.BaselineText != "" || !strings.HasPrefix(a.ValueText, "window end unchanged for 3m") || a.ThresholdText != "3m0s (3 windows)" {
		t.Errorf("stall texts: value %q baseline %q threshold %q", a.ValueText, a.BaselineText, a.ThresholdText)
	}
}
