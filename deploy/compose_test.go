package deploy_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"

	streamlab "github.com/streamlab/streamlab/cli"
)

// upServices are the services `make up` starts (no profile); cli runs
// only with the tools profile, by the chaos and replay verbs.
var upServices = []string{"clickhouse", "clickhouse-setup", "dispatcher", "grafana", "kafka", "kafka-ui", "processor", "producer", "prometheus", "topics"}

// TestComposeLoadsAsDockerDoes: compose-go, the library `docker compose`
// is built on, loads the file with .env.example: schema, interpolation,
// merges (the x-streamlab anchor), depends_on and volume consistency. The
// profiles decide what `up` starts.
func TestComposeLoadsAsDockerDoes(t *testing.T) {
	p := loadProject(t)
	if p.Name != "streamlab" {
		t.Errorf("project name %q, want streamlab (volumes and networks are named after it)", p.Name)
	}
	if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, upServices) {
		t.Errorf("`up` starts %v, want %v", got, upServices)
	}
	if got := p.DisabledServiceNames(); !slices.Equal(got, []string{"cli"}) {
		t.Errorf("services outside the default profile: %v, want [cli]", got)
	}
	tools := loadProject(t, "tools")
	if _, ok := tools.Services["cli"]; !ok {
		t.Errorf("with --profile tools there is no cli service: the chaos and replay verbs would fail")
	}
	// Interpolation as Compose does it: defaults and .env values are in.
	if got := environment(p.Services["producer"])[streamlab.EnvName("rate")]; got != loadEnvExample(t)["PRODUCER_RATE"] {
		t.Errorf("producer rate %q, want .env.example's PRODUCER_RATE", got)
	}
	if got := p.Services["processor"].Build.Args["VERSION"]; got == nil || *got != "dev" {
		t.Errorf("build arg VERSION = %v, want the default dev", got)
	}
}

// TestComposeRequiresTheSecrets: without a .env, Compose refuses to start
// and says what to do, instead of starting ClickHouse and Grafana with
// empty passwords.
func TestComposeRequiresTheSecrets(t *testing.T) {
	empty := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(repoPath("docker-compose.yml"))
	_, _, err := loadProjectFile(abs, empty)
	if err == nil || !strings.Contains(err.Error(), "PASSWORD in .env") {
		t.Fatalf("loading without .env: %v, want a required-variable error naming the .env password", err)
	}
}

// TestComposeValidationCatchesMistakes: the loader really validates as
// Docker would; each mistake below is one Compose would refuse.
func TestComposeValidationCatchesMistakes(t *testing.T) {
	src := readRepoFile(t, "docker-compose.yml")
	for _, tt := range []struct{ name, old, new, want string }{
		{"misspelt depends_on condition", "condition: service_healthy", "condition: service_healty", "depends_on.kafka.condition"},
		{"bad healthcheck duration", "interval: 10s", "interval: 10x", "10x"},
		{"undeclared volume", "prometheus-data:/prometheus", "prometheus-dat:/prometheus", "prometheus-dat"},
		{"dependency on a missing service", "      clickhouse-setup:\n        condition: service_completed_successfully\n      prometheus:",
			"      clickhouse-setpu:\n        condition: service_completed_successfully\n      prometheus:", "clickhouse-setpu"},
		{"unknown key", "    stop_grace_period: 30s", "    stop_grace_periods: 30s", "stop_grace_periods"},
	} {
		if !strings.Contains(src, tt.old) {
			t.Fatalf("%s: docker-compose.yml no longer has %q to break", tt.name, tt.old)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "docker-compose.yml")
		if err := os.WriteFile(file, []byte(strings.Replace(src, tt.old, tt.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := loadProjectFile(file, repoPath(".env.example"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: load = %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
}

// TestUnsetVariablesAreFound: a variable used without a default that the
// env file does not set is reported (Compose would only warn and put in an
// empty string); one with a default is not.
func TestUnsetVariablesAreFound(t *testing.T) {
	src := readRepoFile(t, "docker-compose.yml")
	const old = "STREAMLAB_RATE: ${PRODUCER_RATE:-200}"
	if !strings.Contains(src, old) {
		t.Fatalf("docker-compose.yml no longer has %q", old)
	}
	for repl, want := range map[string][]string{
		"STREAMLAB_RATE: ${PRODUCER_RAT}":      {"PRODUCER_RAT"},
		"STREAMLAB_RATE: $PRODUCER_RAT":        {"PRODUCER_RAT"},
		"STREAMLAB_RATE: ${PRODUCER_RAT:-200}": nil,
		"STREAMLAB_RATE: $$PRODUCER_RAT":       nil,
	} {
		file := filepath.Join(t.TempDir(), "docker-compose.yml")
		if err := os.WriteFile(file, []byte(strings.Replace(src, old, repl, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, unset, err := loadProjectFile(file, repoPath(".env.example"))
		if err != nil || !slices.Equal(unset, want) {
			t.Errorf("%s: unset %v, %v; want %v", repl, unset, err, want)
		}
	}
}

// The house rules, each a function of the loaded project that returns its
// problems, so TestHouseRulesCatchViolations can show each one fires.
var houseRules = map[string]func(*types.Project) []string{
	"pinned images": pinnedImages, "healthchecks": healthchecks, "dependencies": dependencies,
	"loopback ports": loopbackPorts, "mounts": mountsExist,
}

func TestHouseRules(t *testing.T) {
	p := loadProject(t, "tools")
	for _, name := range slices.Sorted(maps.Keys(houseRules)) {
		for _, problem := range houseRules[name](p) {
			t.Errorf("%s: %s", name, problem)
		}
	}
	if published := countPorts(p); published == 0 {
		t.Fatal("no published ports found: the loader no longer sees them")
	}
}

// TestHouseRulesCatchViolations breaks each rule once in a loaded project
// and requires the rule to name the service.
func TestHouseRulesCatchViolations(t *testing.T) {
	for _, tt := range []struct {
		rule, service string
		breakIt       func(s *types.ServiceConfig)
	}{
		{"pinned images", "kafka", func(s *types.ServiceConfig) { s.Image = "apache/kafka:latest" }},
		{"pinned images", "grafana", func(s *types.ServiceConfig) { s.Image = "grafana/grafana" }},
		{"healthchecks", "producer", func(s *types.ServiceConfig) { s.HealthCheck = nil }},
		{"dependencies", "grafana", func(s *types.ServiceConfig) {
			s.DependsOn["prometheus"] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
		}},
		{"dependencies", "processor", func(s *types.ServiceConfig) {
			s.DependsOn["kafka"] = types.ServiceDependency{Condition: types.ServiceConditionCompletedSuccessfully, Required: true}
		}},
		{"loopback ports", "grafana", func(s *types.ServiceConfig) { s.Ports[0].HostIP = "" }},
		{"mounts", "prometheus", func(s *types.ServiceConfig) { s.Volumes[0].Source = repoAbs(t, "deploy/prometheus.yaml") }},
		{"mounts", "grafana", func(s *types.ServiceConfig) { s.Volumes[0].Source = "/etc/grafana" }},
	} {
		p := loadProject(t, "tools")
		s := p.Services[tt.service]
		s.DependsOn = maps.Clone(s.DependsOn)
		s.Ports = slices.Clone(s.Ports)
		s.Volumes = slices.Clone(s.Volumes)
		tt.breakIt(&s)
		p.Services[tt.service] = s
		problems := houseRules[tt.rule](p)
		if !slices.ContainsFunc(problems, func(m string) bool {
			return strings.HasPrefix(m, tt.service+":") || strings.HasPrefix(m, tt.service+" ")
		}) {
			t.Errorf("rule %q did not catch the broken %s: %v", tt.rule, tt.service, problems)
		}
	}
}

func repoAbs(t *testing.T, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(repoPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// pinnedImages: every third-party image names a release; the streamlab
// services share one image built from the Dockerfile.
func pinnedImages(p *types.Project) []string {
	var out []string
	built := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if isStreamlab(s) {
			// Every streamlab service names the same image, so Compose
			// builds it once and they all run the same binary.
			built[s.Image] = true
			continue
		}
		if s.Image == "" {
			out = append(out, name+": neither image nor build")
			continue
		}
		if err := pinned(s.Image); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(built) != 1 || built[""] {
		out = append(out, fmt.Sprintf("the streamlab services must share one named image built from the Dockerfile, got %v", slices.Sorted(maps.Keys(built))))
	}
	for img := range built {
		if strings.HasSuffix(img, ":latest") || !strings.Contains(path.Base(img), ":") {
			out = append(out, fmt.Sprintf("built image %q: give it an explicit tag other than latest", img))
		}
	}
	return out
}

// pinned accepts repo:tag where the tag names a release (it has a digit)
// and is not latest; a digest pins too.
func pinned(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	base := path.Base(image)
	_, tag, ok := strings.Cut(base, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("image %q has no tag: pin a release", image)
	case tag == "latest" || strings.HasPrefix(tag, "latest-"):
		return fmt.Errorf("image %q: pin a release, not latest", image)
	case !strings.ContainsAny(tag, "0123456789"):
		return fmt.Errorf("image %q: tag %q does not name a release", image, tag)
	}
	return nil
}

// healthchecks: every long-running service has one and a restart policy.
func healthchecks(p *types.Project) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if isOneShot(s) {
			continue
		}
		if hc := s.HealthCheck; hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			out = append(out, fmt.Sprintf("%s runs until stopped (restart %q) but has no healthcheck", name, s.Restart))
		}
		if s.Restart == "" {
			out = append(out, name+": set a restart policy (unless-stopped for services, \"no\" for one-shot jobs)")
		}
	}
	return out
}

// dependencies: a service waits for what it needs to be healthy (or, for a
// one-shot job, done), and every one-shot job `up` starts is awaited.
func dependencies(p *types.Project) []string {
	var out []string
	awaited := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, dep := range slices.Sorted(maps.Keys(p.Services[name].DependsOn)) {
			cond := p.Services[name].DependsOn[dep].Condition
			d := p.Services[dep] // compose-go has checked that it exists
			switch cond {
			case types.ServiceConditionHealthy:
				if d.HealthCheck == nil {
					out = append(out, fmt.Sprintf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if !isOneShot(d) {
					out = append(out, fmt.Sprintf("%s waits for %s to complete, but %s is restarted (restart %q)", name, dep, dep, d.Restart))
				}
				awaited[dep] = true
			default:
				// Started is not ready: a service that starts before its
				// broker or schema exists fails or, worse, half-works.
				out = append(out, fmt.Sprintf("%s depends on %s with condition %q: wait for service_healthy or service_completed_successfully", name, dep, cond))
			}
		}
	}
	// A one-shot job nobody waits for would run in the background of `up`
	// with no one to notice it failed; the tools profile is run by hand.
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		if s := p.Services[name]; isOneShot(s) && !awaited[name] && len(s.Profiles) == 0 {
			out = append(out, fmt.Sprintf("one-shot %s is started by `up` but no service waits for it to complete", name))
		}
	}
	return out
}

// loopbackPorts: nothing here is meant to be reachable from the network.
func loopbackPorts(p *types.Project) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, port := range p.Services[name].Ports {
			if port.HostIP != "127.0.0.1" {
				out = append(out, fmt.Sprintf("%s publishes %s:%d on %q: bind it to 127.0.0.1 (\"127.0.0.1:HOST:CONTAINER\")", name, port.Published, port.Target, port.HostIP))
			}
		}
	}
	return out
}

func countPorts(p *types.Project) int {
	n := 0
	for _, s := range p.Services {
		n += len(s.Ports)
	}
	return n
}

// mountsExist: every bind mount is a file or directory of the repository.
// Compose would create a missing source as an empty directory, and the
// service would start without its configuration.
func mountsExist(p *types.Project) []string {
	var out []string
	root, err := filepath.Abs(repo)
	if err != nil {
		return []string{err.Error()}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, v := range p.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind {
				continue // named volumes: compose-go checked they are declared
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				out = append(out, fmt.Sprintf("%s mounts %s, outside the repository: use a path inside it", name, v.Source))
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				out = append(out, fmt.Sprintf("%s mounts ./%s, which is missing from the repository", name, filepath.ToSlash(rel)))
			}
		}
	}
	return out
}

// bindMounts maps each bind mount's target to its source relative to the
// repository ("./grafana/dashboards").
func bindMounts(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	root := repoAbs(t, ".")
	out := map[string]string{}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			rel, err := filepath.Rel(root, v.Source)
			if err != nil {
				t.Fatal(err)
			}
			out[v.Target] = "./" + filepath.ToSlash(rel)
		}
	}
	return out
}

// streamlabInvocations lists every way the compose file runs the binary.
func streamlabInvocations(t *testing.T, p *types.Project) []invocation {
	t.Helper()
	var out []invocation
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if !isStreamlab(s) {
			continue
		}
		if len(s.Entrypoint) > 0 && !slices.Equal(s.Entrypoint, []string{"/streamlab"}) {
			t.Errorf("%s overrides the entrypoint with %v", name, s.Entrypoint)
		}
		if len(s.Command) > 0 {
			out = append(out, invocation{where: "service " + name, args: s.Command, env: environment(s)})
		} else if len(s.Profiles) == 0 {
			t.Errorf("%s runs the image without a command (it would print the help and exit)", name)
		}
		if hc := s.HealthCheck; hc != nil && len(hc.Test) > 2 && hc.Test[1] == "/streamlab" {
			// The probe is exec'd in the container and so inherits its
			// environment, but only its explicit flags matter here.
			out = append(out, invocation{where: "service " + name + " healthcheck", args: hc.Test[2:]})
		}
	}
	return out
}

func TestStreamlabCommandsAndEnvMatchTheCLI(t *testing.T) {
	p := loadProject(t, "tools")
	invs := streamlabInvocations(t, p)
	// The tools service (`docker compose run --rm cli ...`) gets its
	// command from the Makefile and run.ps1; its environment applies to
	// each of those.
	cliEnv := environment(p.Services["cli"])
	for _, inv := range verbInvocations(t) {
		inv.env = cliEnv
		invs = append(invs, inv)
	}
	if len(invs) < 6 {
		t.Fatalf("found only %d streamlab invocations: the loader no longer sees them", len(invs))
	}
	var problems []string
	for _, inv := range invs {
		problems = append(problems, inv.check()...)
	}
	if len(problems) > 0 {
		t.Errorf("the deployment runs commands or sets flags the binary does not have:\n  %s", strings.Join(problems, "\n  "))
	}
}

// TestEnvExampleMatchesCompose: every variable .env.example sets is used
// by the compose file, the secrets come from it, and it stays out of git
// and the image. (That every variable the file needs is set is checked by
// every load: loadProject fails on an unset one.)
func TestEnvExampleMatchesCompose(t *testing.T) {
	abs := repoAbs(t, "docker-compose.yml")
	opts, err := composeOptions(abs, repoPath(".env.example"), []string{"tools"}, nil, cli.WithInterpolation(false))
	if err != nil {
		t.Fatal(err)
	}
	model, err := opts.LoadModel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	used := template.ExtractVariables(model, template.DefaultPattern)
	if len(used) == 0 {
		t.Fatal("found no variable in docker-compose.yml: the extraction no longer works")
	}
	env := loadEnvExample(t)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if _, ok := used[k]; !ok {
			t.Errorf(".env.example sets %s, which docker-compose.yml never uses", k)
		}
	}
	for _, secret := range []string{"CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "DISCORD_WEBHOOK_URL"} {
		if _, ok := used[secret]; !ok {
			t.Errorf("the secret %s must come from .env", secret)
		}
		if _, ok := env[secret]; !ok {
			t.Errorf(".env.example must list the secret %s", secret)
		}
	}
	// .env holds the secrets: it must stay out of git and out of the image.
	for _, f := range []string{".gitignore", ".dockerignore"} {
		if !slices.Contains(strings.Fields(readRepoFile(t, f)), ".env") {
			t.Errorf("%s must list .env", f)
		}
	}
}

// prometheusConfig is the part of deploy/prometheus.yml the tests read.
type prometheusConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestMetricsEndpointsAgree(t *testing.T) {
	p := loadProject(t)
	var prom prometheusConfig
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/prometheus.yml")), &prom); err != nil {
		t.Fatalf("deploy/prometheus.yml: %v", err)
	}
	scraped := map[string][]string{} // job -> host:port
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[sc.JobName] = append(scraped[sc.JobName], net.JoinHostPort(n, strconv.Itoa(d.Port)))
			}
		}
		for _, s := range sc.StaticConfigs {
			scraped[sc.JobName] = append(scraped[sc.JobName], s.Targets...)
		}
	}
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if !isStreamlab(s) || isOneShot(s) {
			continue
		}
		checked++
		addr, ok := environment(s)[streamlab.EnvName("metrics-addr")]
		if !ok {
			t.Errorf("%s: set %s explicitly, so that the healthcheck and Prometheus visibly use the same port", name, streamlab.EnvName("metrics-addr"))
			continue
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: metrics address %q: %v", name, addr, err)
			continue
		}
		want := "http://localhost:" + port + "/healthz"
		if hc := s.HealthCheck; hc == nil || !slices.Contains(hc.Test, want) {
			t.Errorf("%s serves /healthz on :%s, but its healthcheck does not probe %s", name, port, want)
		}
		if !slices.Contains(scraped[name], net.JoinHostPort(name, port)) {
			t.Errorf("deploy/prometheus.yml: job %q must scrape %s:%s (it has %v)", name, name, port, scraped[name])
		}
	}
	if checked < 3 {
		t.Errorf("found %d long-running streamlab services, want producer, processor and dispatcher", checked)
	}
	for job, targets := range scraped {
		for _, tg := range targets {
			host, _, _ := net.SplitHostPort(tg)
			if _, ok := p.Services[host]; !ok && host != "localhost" {
				t.Errorf("deploy/prometheus.yml: job %s scrapes %s, which is not a compose service", job, tg)
			}
		}
	}
	// Grafana's $__rate_interval is four of the datasource's scrape
	// intervals: it must be Prometheus' real one, or rates come out empty.
	var ds struct {
		Datasources []struct {
			Type     string            `yaml:"type"`
			JSONData map[string]string `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "grafana/provisioning/datasources/datasources.yaml")), &ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Datasources {
		if d.Type == "prometheus" && d.JSONData["timeInterval"] != prom.Global.ScrapeInterval {
			t.Errorf("the Prometheus datasource's timeInterval is %q, but deploy/prometheus.yml scrapes every %q", d.JSONData["timeInterval"], prom.Global.ScrapeInterval)
		}
	}
}

func TestMountedFilesExist(t *testing.T) {
	p := loadProject(t)
	// Grafana finds its provisioning under /etc/grafana/provisioning and the
	// dashboard files wherever the dashboards provider points.
	mounts := bindMounts(t, p.Services["grafana"])
	if mounts["/etc/grafana/provisioning"] != "./grafana/provisioning" || mounts["/var/lib/grafana/dashboards"] != "./grafana/dashboards" {
		t.Fatalf("grafana must mount ./grafana/provisioning at /etc/grafana/provisioning and ./grafana/dashboards at /var/lib/grafana/dashboards, got %v", mounts)
	}
	if got := bindMounts(t, p.Services["prometheus"])["/etc/prometheus/prometheus.yml"]; got != "./deploy/prometheus.yml" {
		t.Errorf("prometheus must mount ./deploy/prometheus.yml at /etc/prometheus/prometheus.yml, got %q", got)
	}
	for _, dir := range []string{"grafana/provisioning/datasources", "grafana/provisioning/dashboards"} {
		if fi, err := os.Stat(repoPath(dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s is missing: Grafana would start without it", dir)
		}
	}
	checkGrafanaProvisioning(t, p)
}

// checkGrafanaProvisioning checks the provisioning files against the
// compose file: dashboard providers read the mounted dashboards directory,
// and every $VAR they expand is in Grafana's environment.
func checkGrafanaProvisioning(t *testing.T, p *types.Project) {
	g, ok := p.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	genv := environment(g)
	files, _ := filepath.Glob(repoPath("grafana/provisioning/*/*.y*ml"))
	if len(files) == 0 {
		t.Error("grafana/provisioning has no YAML files: no datasource or dashboard would be provisioned")
		return
	}
	ref := regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	providers := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, f)
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			if v := m[1] + m[2]; v != "" && !strings.HasPrefix(v, "GF_") {
				if _, ok := genv[v]; !ok {
					t.Errorf("%s expands $%s, but the grafana service does not set it", rel, v)
				}
			}
		}
		switch filepath.Base(filepath.Dir(f)) {
		case "datasources":
			checkDatasources(t, p, rel, b)
			continue
		case "dashboards":
		default:
			continue
		}
		var prov struct {
			Providers []struct {
				Name    string `yaml:"name"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		if err := yaml.Unmarshal(b, &prov); err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		for _, pr := range prov.Providers {
			providers++
			if pr.Options.Path != "/var/lib/grafana/dashboards" && !strings.HasPrefix(pr.Options.Path, "/var/lib/grafana/dashboards/") {
				t.Errorf("%s: provider %q reads %q, but the dashboards are mounted at /var/lib/grafana/dashboards", rel, pr.Name, pr.Options.Path)
			}
		}
	}
	if providers == 0 {
		t.Error("no dashboard provider under grafana/provisioning/dashboards: the dashboards would not load")
	}
}

// TestComposeConfig has Compose itself validate the file (schema,
// interpolation, merges) when its CLI is installed; it needs no engine.
func TestComposeConfig(t *testing.T) {
	var cmd []string
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		cmd = []string{"docker", "compose"}
	case lookPath("docker-compose"):
		cmd = []string{"docker-compose"}
	default:
		t.Skip("no docker compose CLI on this machine: compose-go (the library it is built on) validated the file in the other tests")
	}
	args := append(slices.Clone(cmd[1:]), "--env-file", ".env.example", "--profile", "tools", "config", "--quiet")
	run := exec.Command(cmd[0], args...)
	run.Dir = repo
	run.Env = composeEnv(loadEnvExample(t))
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = run.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		run.Process.Kill()
		<-done
		t.Fatal("docker compose config did not answer in a minute")
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cmd[0], strings.Join(args, " "), err, out)
	}
}

func lookPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// composeEnv is the test's environment less the variables that would take
// precedence over .env.example in Compose's interpolation, or change which
// files Compose reads.
func composeEnv(envExample map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := envExample[k]; ok || k == "VERSION" || strings.HasPrefix(k, "COMPOSE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// checkDatasources checks that each provisioned datasource reaches its
// compose service with the credentials that service is started with.
func checkDatasources(t *testing.T, p *types.Project, rel string, b []byte) {
	t.Helper()
	var f struct {
		Datasources []struct {
			Name           string            `yaml:"name"`
			Type           string            `yaml:"type"`
			URL            string            `yaml:"url"`
			JSONData       map[string]string `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Errorf("%s: %v", rel, err)
		return
	}
	for _, ds := range f.Datasources {
		switch ds.Type {
		case "grafana-clickhouse-datasource":
			ch, ok := p.Services[ds.JSONData["host"]]
			if !ok {
				t.Errorf("%s: datasource %q: host %q is not a compose service", rel, ds.Name, ds.JSONData["host"])
				continue
			}
			chEnv := environment(ch)
			wantPort := map[string]string{"native": "9000", "http": "8123"}[cmp.Or(ds.JSONData["protocol"], "native")]
			if ds.JSONData["port"] != wantPort {
				t.Errorf("%s: datasource %q: port %q, want %s for protocol %q", rel, ds.Name, ds.JSONData["port"], wantPort, ds.JSONData["protocol"])
			}
			if user := chEnv["CLICKHOUSE_USER"]; ds.JSONData["username"] != user && ds.JSONData["username"] != "$CLICKHOUSE_USER" && ds.JSONData["username"] != "${CLICKHOUSE_USER}" {
				t.Errorf("%s: datasource %q: username %q, but ClickHouse is started with user %q", rel, ds.Name, ds.JSONData["username"], user)
			}
			if _, set := chEnv["CLICKHOUSE_PASSWORD"]; set {
				if pw := ds.SecureJSONData["password"]; pw != "$CLICKHOUSE_PASSWORD" && pw != "${CLICKHOUSE_PASSWORD}" {
					t.Errorf("%s: datasource %q: password %q: ClickHouse is started with CLICKHOUSE_PASSWORD from .env; use password: ${CLICKHOUSE_PASSWORD} (the grafana service has it in its environment)", rel, ds.Name, pw)
				}
			}
		case "prometheus":
			u, err := url.Parse(ds.URL)
			if err != nil {
				t.Errorf("%s: datasource %q: url %q: %v", rel, ds.Name, ds.URL, err)
				continue
			}
			if _, ok := p.Services[u.Hostname()]; !ok || u.Port() != "9090" {
				t.Errorf("%s: datasource %q: url %q is not the compose prometheus service on 9090", rel, ds.Name, ds.URL)
			}
		}
	}
}
