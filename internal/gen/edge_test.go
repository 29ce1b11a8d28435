package gen_test

import (
	"testing"

	"github.com/streamlab/streamlab/internal/gen"
)

func TestTinyPopulation(t *testing.T) {
	for _, users := range []int{1, 2, 7} {
		cfg := gen.DefaultConfig()
		cfg.Users = users
		keys := map[string]bool{}
		for i, m := range generate(t, cfg, 5000) {
			keys[string(m.Key)] = true
			if out, _ := classify(m.Value, cfg.MaxEventBytes); m.Kind == gen.Normal && out != okOutcome {
				t.Fatalf("users=%d message %d: %s %q", users, i, out, m.Value)
			}
		}
		if len(keys) != users {
			t.Errorf("users=%d: %d distinct keys", users, len(keys))
		}
	}
}
