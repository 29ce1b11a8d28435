package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/window"
)

func TestConfigDefaults(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("the zero Config must be valid (every field defaults): %v", err)
	}
	got := Config{}.withDefaults()
	d := DefaultConfig()
	if got.Rate != d.Rate || got.Partitions != d.Partitions || got.Window != DefaultWindow() ||
		got.Refresh != d.Refresh || got.DrainTimeout != d.DrainTimeout || got.Out == nil || got.Logger == nil {
		t.Errorf("withDefaults = %+v", got)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultConfig is invalid: %v", err)
	}
	// Set fields stay as they are.
	c := Config{Rate: 7, Partitions: 1, Refresh: time.Minute}.withDefaults()
	if c.Rate != 7 || c.Partitions != 1 || c.Refresh != time.Minute {
		t.Errorf("withDefaults replaced set fields: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Duration: -1, Rate: -1, Partitions: -1, Refresh: -1, DrainTimeout: -1,
		Window: window.Config{SizeMs: -5}, Chaos: []Burst{{Kind: "nonsense", Count: 0, At: -time.Second}}}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Duration", "Rate", "Partitions", "Refresh", "DrainTimeout", "Window", "Chaos[0]", "Kind", "Count", "At"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "--") {
		t.Errorf("a service package's error names a flag: %v", err)
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule(" 12s:late:200, 6s:malformed:300 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Burst{{At: 6 * time.Second, Kind: "malformed", Count: 300}, {At: 12 * time.Second, Kind: "late", Count: 200}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if b, err := ParseSchedule(""); err != nil || b != nil {
		t.Errorf("empty schedule: %v, %v", b, err)
	}
	if _, err := ParseSchedule(DefaultSchedule); err != nil {
		t.Errorf("DefaultSchedule: %v", err)
	}
	for _, bad := range []string{"6s:malformed", "x:late:1", "-1s:late:1", "1s:late:0", "1s:late:many", "1s:bogus:3"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q: no error", bad)
		} else if strings.Contains(err.Error(), "--") {
			t.Errorf("%q: the error names a flag: %v", bad, err)
		}
	}
}
