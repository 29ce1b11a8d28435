package demo

import (
	"encoding/json"
	"testing"

	"github.com/streamlab/streamlab/internal/gen"
)

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct {
		code  string
		minor int64
		want  string
	}{
		{"EUR", 183481, "EUR 1834.81"},
		{"USD", 5, "USD 0.05"},
		{"GBP", 100, "GBP 1.00"},
		{"JPY", 12340, "JPY 12340"}, // no minor unit: the yen is the unit
		{"KRW", 0, "KRW 0"},
		{"BHD", 1234, "BHD 1.234"},
		{"KWD", 7, "KWD 0.007"},
		{"CLF", 12345, "CLF 1.2345"},
		{"IDR", 150000, "IDR 1500.00"}, // ISO 4217 says 2 where CLDR (x/text) says 0
		{"EUR", -250, "EUR -2.50"},
		{"EUR", 1<<63 - 1, "EUR 92233720368547758.07"}, // a saturated sum stays exact
		{"XAU", 3, "XAU 3 (minor units)"},              // no minor unit defined
		{"QQQ", 42, "QQQ 42 (minor units)"},            // not an ISO 4217 code
	} {
		if got := formatMoney(c.code, c.minor); got != c.want {
			t.Errorf("formatMoney(%s, %d) = %q, want %q", c.code, c.minor, got, c.want)
		}
	}
}

// TestGeneratorCurrenciesHaveMinorUnits: every currency the generator (and
// so the producer and chaos) writes is shown in major units, never as the
// "minor units" fallback.
func TestGeneratorCurrenciesHaveMinorUnits(t *testing.T) {
	cfg := gen.DefaultConfig()
	cfg.Seed = 7
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 50_000 {
		var ev struct{ Currency string }
		if m := g.Next(); m.Kind == gen.Normal && json.Unmarshal(m.Value, &ev) == nil && ev.Currency != "" {
			seen[ev.Currency] = true
		}
	}
	if len(seen) < 5 {
		t.Fatalf("only %d currencies in 50000 events: %v", len(seen), seen)
	}
	for c := range seen {
		if _, ok := minorDigits[c]; !ok {
			t.Errorf("the generator writes %s, whose ISO 4217 minor unit the view does not know", c)
		}
	}
	t.Logf("generator currencies: %v", seen)
}
