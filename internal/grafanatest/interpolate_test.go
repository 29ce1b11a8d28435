package grafanatest

import (
	"testing"
	"time"
)

func TestInterpolateMacros(t *testing.T) {
	tr := TimeRange{From: time.Unix(1415792726, 123e6), To: time.Unix(1447328726, 456e6)}
	vars := map[string]VarValue{
		"reason": {Values: []string{"late_event", "it's"}, Options: []string{"late_event", "it's", "oversized"}},
		"one":    {Values: []string{"EUR"}},
		"all":    {All: true, Options: []string{"a", "b"}},
	}
	for _, tt := range []struct{ in, want string }{
		// Outputs as documented by the plugin (docs/sources/query-editor.md).
		{"WHERE $__timeFilter(time)", "WHERE time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)"},
		{"$__timeFilter_ms(time)", "time >= fromUnixTimestamp64Milli(1415792726123) AND time <= fromUnixTimestamp64Milli(1447328726456)"},
		{"$__dateFilter(date)", "date >= toDate('2014-11-12') AND date <= toDate('2015-11-12')"},
		{"$__timeInterval(column)", "toStartOfInterval(toDateTime(column), INTERVAL 20 second)"},
		{"$__timeInterval_ms(column)", "toStartOfInterval(toDateTime64(column, 3), INTERVAL 20000 millisecond)"},
		{"$__interval_s", "20"},
		{"$__fromTime AND $__toTime", "toDateTime(1415792726) AND toDateTime(1447328726)"},
		{"$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726123)"},
		{"$__timeFilter(toDateTime(a, 'UTC'))", "toDateTime(a, 'UTC') >= toDateTime(1415792726) AND toDateTime(a, 'UTC') <= toDateTime(1447328726)"},
		// Variables and $__conditionalAll, as the plugin's frontend does them.
		{"r IN (${reason:singlequote})", `r IN ('late_event','it\'s')`},
		{"r IN ($reason)", `r IN ('late_event','it's')`},
		{"c = '$one' AND c IN (${one:singlequote})", "c = 'EUR' AND c IN ('EUR')"},
		{"$__conditionalAll(r IN (${reason:singlequote}), $reason)", `r IN ('late_event','it\'s')`},
		{"$__conditionalAll(x IN (${all:singlequote}), $all) AND y", "1=1 AND y"},
		{"x IN (${all:singlequote})", "x IN ('a','b')"},
	} {
		got, err := Interpolate(tt.in, tr, 20*time.Second, vars)
		if err != nil || got != tt.want {
			t.Errorf("Interpolate(%q) = %q, %v\n want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"$__timeFiltr(x)", "$__timeFilter(a, b)", "$__timeFilter(x", "$nosuchvar", "$__conditionalAll(a, $nope)", "$__fromTime(x)"} {
		if got, err := Interpolate(bad, tr, time.Second, vars); err == nil {
			t.Errorf("Interpolate(%q) = %q, want an error", bad, got)
		}
	}
}

func TestInterpolatePromQL(t *testing.T) {
	v := PromVars{Interval: 15 * time.Second, ScrapeInterval: 5 * time.Second, Range: time.Hour}
	got, err := InterpolatePromQL(`sum(rate(x[$__rate_interval])) / sum(increase(y[${__range}])) + $__interval_ms`, v)
	if want := `sum(rate(x[20000ms])) / sum(increase(y[3600000ms])) + 15000`; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	// A short step still spans four scrapes.
	if r := (PromVars{Interval: time.Second, ScrapeInterval: 5 * time.Second, Range: time.Hour}).RateInterval(); r != 20*time.Second {
		t.Errorf("rate interval %v, want 20s", r)
	}
	if _, err := InterpolatePromQL(`up{job="$job"}`, v); err == nil {
		t.Error("an unknown variable was accepted")
	}
}
