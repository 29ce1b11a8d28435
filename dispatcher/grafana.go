package dispatcher

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/streamlab/streamlab/dispatcher/rules"
)

// Dashboard UIDs the alert links point at; the provisioned Grafana
// dashboards must use these UIDs.
const (
	DashboardPipeline    = "streamlab-pipeline"     // lateness, windows, stalls
	DashboardBusiness    = "streamlab-business"     // revenue, orders, payment failures
	DashboardDeadLetters = "streamlab-dead-letters" // dead letters by reason
)

func dashboardFor(rule string) string {
	switch rule {
	case rules.RevenueDrop, rules.RevenueZero, rules.PaymentFailures:
		return DashboardBusiness
	case rules.DLQSpike:
		return DashboardDeadLetters
	}
	return DashboardPipeline
}

// grafanaLinker returns the Link function of the incident tracker: the
// rule's dashboard, zoomed on the evidence (the window ± 15 minutes, or the
// last 30 minutes before the alert).
func grafanaLinker(base string) func(rules.Result, time.Time) string {
	if base == "" {
		return nil
	}
	base = strings.TrimRight(base, "/")
	return func(r rules.Result, at time.Time) string {
		from, to := at.Add(-30*time.Minute), at.Add(5*time.Minute)
		if !r.WindowStart.IsZero() {
			from, to = r.WindowStart.Add(-15*time.Minute), r.WindowEnd.Add(15*time.Minute)
		}
		q := url.Values{}
		q.Set("from", strconv.FormatInt(from.UnixMilli(), 10))
		q.Set("to", strconv.FormatInt(to.UnixMilli(), 10))
		return base + "/d/" + dashboardFor(r.Rule) + "?" + q.Encode()
	}
}
