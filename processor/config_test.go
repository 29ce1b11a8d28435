package processor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/processor"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := processor.DefaultConfig()
	cfg.Brokers = []string{"localhost:9092"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidateNamesOutOfRangeFields: a value that cannot work is an error
// naming its field, never silently replaced by a default.
func TestValidateNamesOutOfRangeFields(t *testing.T) {
	for _, tc := range []struct {
		field string
		set   func(*processor.Config)
	}{
		{"Brokers", func(c *processor.Config) { c.Brokers = nil }},
		{"Group", func(c *processor.Config) { c.Group = "" }},
		{"Topics.Agg", func(c *processor.Config) { c.Topics.Agg = "" }},
		{"MaxBatch", func(c *processor.Config) { c.MaxBatch = -1 }},
		{"MaxBatch", func(c *processor.Config) { c.MaxBatch = 0 }},
		{"MaxInFlight", func(c *processor.Config) { c.MaxInFlight = 0 }},
		{"CheckpointInterval", func(c *processor.Config) { c.CheckpointInterval = 0 }},
		{"CheckpointEvery", func(c *processor.Config) { c.CheckpointEvery = -5 }},
		{"SessionTimeout", func(c *processor.Config) { c.SessionTimeout = 0 }},
		{"RebalanceTimeout", func(c *processor.Config) { c.RebalanceTimeout = -time.Second }},
		{"ProgressInterval", func(c *processor.Config) { c.ProgressInterval = 0 }},
		{"GaugeInterval", func(c *processor.Config) { c.GaugeInterval = 0 }},
		{"Retry", func(c *processor.Config) { c.Retry.Timeout = -time.Second }},
		{"Limits.MaxEventBytes", func(c *processor.Config) { c.Limits.MaxEventBytes = 0 }},
		{"window size", func(c *processor.Config) { c.Window.SizeMs = 0 }},
	} {
		cfg := processor.DefaultConfig()
		cfg.Brokers = []string{"localhost:9092"}
		tc.set(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s out of range: Validate = %v", tc.field, err)
		}
		if _, err := processor.New(cfg); err == nil {
			t.Errorf("%s out of range: New accepted it", tc.field)
		}
	}
	// 0 is a documented value of CheckpointEvery: checkpoint by interval only.
	cfg := processor.DefaultConfig()
	cfg.Brokers, cfg.CheckpointEvery = []string{"localhost:9092"}, 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
