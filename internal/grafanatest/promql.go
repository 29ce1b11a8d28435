package grafanatest

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// PromVars are what Grafana's global variables stand for when it sends a
// panel's Prometheus query.
type PromVars struct {
	// Interval is $__interval: the panel's step, from the time range and
	// the panel's width, never below ScrapeInterval.
	Interval time.Duration
	// ScrapeInterval is the datasource's "scrape interval" (jsonData
	// timeInterval in the provisioning file).
	ScrapeInterval time.Duration
	// Range is $__range: the dashboard's time range.
	Range time.Duration
}

// RateInterval is $__rate_interval as Grafana defines it:
// max($__interval + scrape interval, 4 × scrape interval), so a rate always
// spans at least four scrapes.
func (v PromVars) RateInterval() time.Duration {
	return max(v.Interval+v.ScrapeInterval, 4*v.ScrapeInterval)
}

var promVarRE = regexp.MustCompile(`\$\{?(\w+)\}?`)

// InterpolatePromQL expands Grafana's global variables in a Prometheus
// expression ($__interval, $__rate_interval, $__range and their _ms and _s
// forms). Durations are written in milliseconds, which PromQL accepts in a
// range selector whatever their size. Any other $variable is an error:
// the dashboards define no template variables for Prometheus.
func InterpolatePromQL(expr string, v PromVars) (string, error) {
	if v.Interval <= 0 || v.ScrapeInterval <= 0 || v.Range <= 0 {
		return "", fmt.Errorf("interpolate %q: interval, scrape interval and range must be positive, got %+v", expr, v)
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	values := map[string]string{
		"__interval":         ms(v.Interval) + "ms",
		"__interval_ms":      ms(v.Interval),
		"__rate_interval":    ms(v.RateInterval()) + "ms",
		"__rate_interval_ms": ms(v.RateInterval()),
		"__range":            ms(v.Range) + "ms",
		"__range_ms":         ms(v.Range),
		"__range_s":          strconv.FormatInt(int64(v.Range/time.Second), 10),
	}
	var bad error
	out := promVarRE.ReplaceAllStringFunc(expr, func(m string) string {
		name := promVarRE.FindStringSubmatch(m)[1]
		if val, ok := values[name]; ok {
			return val
		}
		if bad == nil {
			bad = fmt.Errorf("interpolate %q: $%s is not a Grafana global this package expands", expr, name)
		}
		return m
	})
	return out, bad
}
