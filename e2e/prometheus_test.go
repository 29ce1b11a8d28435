//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/streamlab/streamlab/grafana"
	"github.com/streamlab/streamlab/internal/grafanatest"
)

// TestPrometheusDashboards proves that every Prometheus panel shows
// something: a real Prometheus server (the Debian package; docker-compose
// pins prom/prometheus) scrapes the real producer, processor and dispatcher
// processes on loopback, with the jobs of deploy/prometheus.yml, and every
// PromQL expression of every dashboard, with Grafana's variables expanded,
// is evaluated through Prometheus' HTTP API the way Grafana sends it (a
// range query, or an instant one for stats) and must return a series with a
// finite value. A failure names the dashboard, panel and expression, and
// the metrics it uses that no scraped process exports.
//
// It also runs `promtool check config` on deploy/prometheus.yml and on the
// configuration it derives from it.
func TestPrometheusDashboards(t *testing.T) {
	promtool := requireProgram(t, "promtool")
	prometheus := requireProgram(t, "prometheus")
	deployed := filepath.Join("..", "deploy", "prometheus.yml")
	if out, err := exec.Command(promtool, "check", "config", deployed).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", deployed, err, out)
	}
	cfg := readPrometheusConfig(t, deployed)

	const partitions = 3
	b := brokers(t)
	ts := newTopicSet(t, "prom")
	createTopics(t, b, ts, partitions)
	// Short windows, so that windows close, revisions and late events
	// happen, and checkpoints are written within seconds.
	win := []string{"--window", "10s", "--out-of-orderness", "2s", "--allowed-lateness", "20s", "--replay-retention", "1m"}
	loopback := []string{"--metrics-addr", "127.0.0.1:0"}
	producer := startRole(t, "producer", slices.Concat([]string{"producer", "--brokers", b, "--raw-topic", ts.Raw,
		"--rate", "300", "--start", "now"}, loopback, win)...)
	group := uniqueName(t, "group")
	processor := startRole(t, "processor", slices.Concat(processorArgs(b, ts, group), loopback, win)...)
	dispatcher := startRole(t, "dispatcher", slices.Concat([]string{"dispatcher", "--brokers", b, "--eval-interval", "1s",
		"--lag-group", group}, ts.flags(), loopback, win[:2])...)
	roles := []*proc{producer, processor, dispatcher}
	targets := map[string]string{}
	for _, p := range roles {
		targets[p.name] = p.metricsAddr(t)
	}

	promAddr := freeLoopbackAddr(t)
	targets["prometheus"] = promAddr
	dir := t.TempDir()
	own := filepath.Join(dir, "prometheus.yml")
	writeScrapeConfig(t, cfg, targets, own)
	if out, err := exec.Command(promtool, "check", "config", own).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config on the derived configuration: %v\n%s", err, out)
	}
	server := startProgram(t, "prometheus", prometheus, "--config.file="+own, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--storage.tsdb.retention.time=1h")
	roles = append(roles, server)
	api := &promAPI{base: "http://" + promAddr}
	ctx := testContext(t, 6*time.Minute)

	waitFor(t, ctx, roles, "every scrape target up", 2*time.Minute, func() (bool, string) { return api.targetsUp(ctx, len(targets)) })
	started := time.Now()

	vars := grafanatest.PromVars{Interval: cfg.scrapeInterval, ScrapeInterval: cfg.scrapeInterval, Range: 5 * time.Minute}
	type panelQuery struct {
		name string
		q    grafanatest.Query
		expr string
	}
	var pending []panelQuery
	ds, err := grafanatest.Dashboards(grafana.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		for _, q := range d.Queries() {
			if q.Datasource.UID != grafanatest.PrometheusUID {
				continue
			}
			expr, err := grafanatest.InterpolatePromQL(q.Expr, vars)
			if err != nil {
				t.Errorf("%s / %s / %s: %v", d.Title, q.Title, q.RefID, err)
				continue
			}
			pending = append(pending, panelQuery{name: fmt.Sprintf("%s / %s / %s", d.Title, q.Title, q.RefID), q: q, expr: expr})
		}
	}
	if len(pending) == 0 {
		t.Fatal("the dashboards have no Prometheus query")
	}
	total := len(pending)

	// Wait until every expression returns a series: the pipeline needs a few
	// windows before emissions, revisions, late events and checkpoints exist.
	// An expression Prometheus rejects fails at once; waiting cannot help it.
	deadline := time.Now().Add(2*time.Minute + 4*vars.RateInterval())
	var empty []panelQuery
	slowest, slowestAfter := "", time.Duration(0)
	for {
		empty = empty[:0]
		for _, pq := range pending {
			n, err := api.series(ctx, pq.expr, pq.q.Instant, started, vars.Interval)
			switch {
			case err != nil:
				t.Errorf("%s: %v\n  expression: %s", pq.name, err, pq.expr)
			case n == 0:
				empty = append(empty, pq)
			default:
				slowest, slowestAfter = pq.name, time.Since(started)
			}
		}
		pending = slices.Clone(empty)
		if len(pending) == 0 || time.Now().After(deadline) || t.Failed() {
			break
		}
		for _, p := range roles {
			if err := p.alive(); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d Prometheus queries still return nothing when the test ran out of time", len(pending))
		case <-time.After(cfg.scrapeInterval):
		}
	}
	if len(pending) > 0 {
		exported, err := api.metricNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, pq := range pending {
			var missing []string
			for _, m := range metricRE.FindAllString(pq.expr, -1) {
				if !exported[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] && !exported[m] {
					missing = append(missing, m)
				}
			}
			why := "every metric it uses is scraped, but the expression selects nothing"
			if len(missing) > 0 {
				why = "no scraped process exports " + strings.Join(slices.Compact(missing), ", ")
			}
			t.Errorf("%s returned no series with a finite value after %s: %s\n  expression: %s", pq.name, time.Since(started).Round(time.Second), why, pq.expr)
		}
	}
	t.Logf("%d of %d Prometheus queries of the dashboards returned series; the last one (%s) %s after every target was up",
		total-len(pending), total, slowest, slowestAfter.Round(time.Second))
	server.stop(t, 30*time.Second)
}

var metricRE = regexp.MustCompile(`\bstreamlab_[a-z0-9_]+`)

// requireProgram finds a program on PATH or fails the test saying how to
// install it: the suite never skips.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: on Debian or Ubuntu `apt-get install prometheus` (server and promtool; .ci/run does it)", name)
	}
	return p
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago, for a program that cannot report the port it bound.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// promConfig is deploy/prometheus.yml: its global settings and its jobs
// (each a map, so that settings this test does not know survive).
type promConfig struct {
	global         map[string]any
	jobs           []map[string]any
	scrapeInterval time.Duration
}

func readPrometheusConfig(t *testing.T, path string) promConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Global        map[string]any   `yaml:"global"`
		ScrapeConfigs []map[string]any `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	si, err := time.ParseDuration(fmt.Sprint(f.Global["scrape_interval"]))
	if err != nil {
		t.Fatalf("%s: global scrape_interval: %v", path, err)
	}
	return promConfig{global: f.Global, jobs: f.ScrapeConfigs, scrapeInterval: si}
}

// writeScrapeConfig writes cfg with every job scraping its process on
// loopback instead of its compose service. A job without a process here, or
// a process without a job, fails the test: then the compose stack would not
// scrape what this test proves.
func writeScrapeConfig(t *testing.T, cfg promConfig, targets map[string]string, path string) {
	t.Helper()
	jobs := make([]map[string]any, 0, len(cfg.jobs))
	seen := map[string]bool{}
	for _, j := range cfg.jobs {
		name := fmt.Sprint(j["job_name"])
		addr, ok := targets[name]
		if !ok {
			t.Fatalf("deploy/prometheus.yml has job %q, which this test does not run", name)
		}
		seen[name] = true
		own := map[string]any{}
		for k, v := range j {
			if !strings.HasSuffix(k, "_sd_configs") && k != "static_configs" {
				own[k] = v
			}
		}
		own["static_configs"] = []map[string]any{{"targets": []string{addr}}}
		jobs = append(jobs, own)
	}
	for name := range targets {
		if !seen[name] {
			t.Fatalf("deploy/prometheus.yml has no job %q: compose would not scrape it", name)
		}
	}
	b, err := yaml.Marshal(map[string]any{"global": cfg.global, "scrape_configs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, a process dies, or d passes.
func waitFor(t *testing.T, ctx context.Context, procs []*proc, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		for _, p := range procs {
			if err := p.alive(); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not reached within %s: %s", what, d, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// promAPI is the little of Prometheus' HTTP API (/api/v1) the test needs.
type promAPI struct{ base string }

func (a *promAPI) get(ctx context.Context, path string, q url.Values, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

// targetsUp reports whether want targets are all up.
func (a *promAPI) targetsUp(ctx context.Context, want int) (bool, string) {
	var data struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := a.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return false, err.Error()
	}
	up := 0
	var state []string
	for _, tg := range data.ActiveTargets {
		if tg.Health == "up" {
			up++
		}
		state = append(state, fmt.Sprintf("%s %s %s", tg.Labels["job"], tg.Health, tg.LastError))
	}
	return up == want && len(data.ActiveTargets) == want, strings.Join(state, "; ")
}

// series evaluates expr as Grafana would (a range query from since to now
// with the panel's step, or an instant query) and returns how many series
// have at least one finite value.
func (a *promAPI) series(ctx context.Context, expr string, instant bool, since time.Time, step time.Duration) (int, error) {
	now := time.Now()
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value  []any   `json:"value"`
			Values [][]any `json:"values"`
		} `json:"result"`
	}
	var err error
	if instant {
		err = a.get(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {unix(now)}}, &data)
	} else {
		err = a.get(ctx, "/api/v1/query_range", url.Values{"query": {expr}, "start": {unix(since)}, "end": {unix(now)},
			"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}, &data)
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range data.Result {
		samples := r.Values
		if r.Value != nil {
			samples = [][]any{r.Value}
		}
		for _, s := range samples {
			if len(s) == 2 {
				if f, err := strconv.ParseFloat(fmt.Sprint(s[1]), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
					n++
					break
				}
			}
		}
	}
	return n, nil
}

// metricNames returns every metric name Prometheus has scraped.
func (a *promAPI) metricNames(ctx context.Context) (map[string]bool, error) {
	var names []string
	if err := a.get(ctx, "/api/v1/label/__name__/values", url.Values{}, &names); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
