//go:build e2e

package e2e

import (
	"fmt"
	"testing"

	"github.com/streamlab/streamlab/internal/event"
)

// logStart is the fixed event-time start of generated logs: with it the
// same seed always gives the same log, so a failure can be replayed.
const logStart = "2026-01-01T00:00:00Z"

// producerArgs produces count generated messages as fast as the broker takes
// them. 20 events per simulated second spreads a few thousand messages over
// many one-minute windows, so windows fire, take late events and close.
func producerArgs(b string, ts topicSet, count int, seed uint64, start string, extra ...string) []string {
	args := []string{"producer", "--brokers", b, "--raw-topic", ts.Raw, "--rate", "0", "--count", fmt.Sprint(count),
		"--seed", fmt.Sprint(seed), "--start", start, "--events-per-second", "20", "--metrics-addr", ""}
	return append(args, extra...)
}

// processorArgs runs a processor replica with a short session timeout (a
// killed replica's partitions move quickly) and frequent checkpoints.
func processorArgs(b string, ts topicSet, group string, extra ...string) []string {
	args := []string{"processor", "--brokers", b, "--group", group, "--metrics-addr", "",
		"--session-timeout", "6s", "--checkpoint-interval", "500ms"}
	args = append(args, ts.flags()...)
	return append(args, extra...)
}

// requireChaos fails the test when the log lacks a kind of trouble it is
// meant to exercise, so that a generator change cannot make it pass
// vacuously.
func requireChaos(t *testing.T, e *expectation) {
	t.Helper()
	reasons := map[string]int{}
	upserts := 0
	for _, r := range e.res {
		for _, d := range r.DeadLetters {
			reasons[d.Reason]++
		}
		for _, rec := range r.Emissions {
			var id recordID
			if err := jsonUnmarshal(rec, &id); err == nil && id.Revision > 1 {
				upserts++
			}
		}
	}
	if e.duplicates == 0 {
		t.Error("the log has no duplicate events")
	}
	if upserts == 0 {
		t.Error("the log has no allowed-late events (no emission with revision > 1)")
	}
	for _, r := range []event.Reason{event.LateEvent, event.Oversized, event.FutureEvent, event.InvalidJSON, event.SchemaViolation} {
		if reasons[string(r)] == 0 {
			t.Errorf("the log has no %s dead letter", r)
		}
	}
}
