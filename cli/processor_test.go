package cli

import (
	"strings"
	"testing"
)

// TestProcessorRefusesOutOfRangeFlags: values that cannot work are usage
// errors (exit 2) naming the flag and its variable, never replaced by a
// default; a broker that never answers is a runtime failure (exit 1) with
// the fix.
func TestProcessorRefusesOutOfRangeFlags(t *testing.T) {
	for _, tc := range []struct{ args, want []string }{
		{[]string{"--max-batch", "-1"}, []string{"--max-batch (STREAMLAB_MAX_BATCH) must be positive, got -1"}},
		{[]string{"--checkpoint-interval", "0s", "--session-timeout", "0s"}, []string{
			"--checkpoint-interval (STREAMLAB_CHECKPOINT_INTERVAL) must be positive, got 0s",
			"--session-timeout (STREAMLAB_SESSION_TIMEOUT) must be positive, got 0s"}},
		{[]string{"--checkpoint-every", "-1"}, []string{"--checkpoint-every (STREAMLAB_CHECKPOINT_EVERY) must not be negative"}},
		{[]string{"--group", ""}, []string{"--group (STREAMLAB_GROUP) must be set"}},
		{[]string{"--connect-timeout", "-1s"}, []string{"--connect-timeout (STREAMLAB_CONNECT_TIMEOUT) -1s: must not be negative"}},
	} {
		code, _, stderr := run(t, "", append([]string{"processor", "--brokers", "127.0.0.1:1", "--metrics-addr", ""}, tc.args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage); stderr %s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, w)
			}
		}
	}
	code, _, stderr := run(t, "", "processor", "--brokers", "127.0.0.1:1", "--metrics-addr", "", "--connect-timeout", "300ms")
	if code != 1 || !strings.Contains(stderr, "fix: start Kafka") {
		t.Errorf("unreachable broker: exit %d, stderr %s; want 1 and the fix", code, stderr)
	}
}
