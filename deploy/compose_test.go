package deploy_test

import (
	"fmt"
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

	"go.yaml.in/yaml/v3"

	"github.com/streamlab/streamlab/cli"
)

func TestImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	built := map[string]bool{}
	for _, name := range sortedNames(c) {
		s := c.Services[name]
		if s.isStreamlab() {
			// Every streamlab service names the same image, so Compose
			// builds it once and they all run the same binary.
			built[s.Image] = true
			continue
		}
		if s.Image == "" {
			t.Errorf("%s: neither image nor build", name)
			continue
		}
		if err := pinned(s.Image); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(built) != 1 || built[""] {
		t.Errorf("the streamlab services must share one named image built from the Dockerfile, got %v", built)
	}
	for img := range built {
		if strings.HasSuffix(img, ":latest") || !strings.Contains(path.Base(img), ":") {
			t.Errorf("built image %q: give it an explicit tag other than latest", img)
		}
	}
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

func TestLongRunningServicesHaveHealthchecks(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedNames(c) {
		s := c.Services[name]
		if s.isOneShot() {
			continue
		}
		if s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] == "NONE" {
			t.Errorf("%s runs until stopped (restart %q) but has no healthcheck", name, s.Restart)
		}
		if s.Restart == "" {
			t.Errorf("%s: set a restart policy (unless-stopped for services, \"no\" for one-shot jobs)", name)
		}
	}
}

func TestDependencies(t *testing.T) {
	c := loadCompose(t)
	awaited := map[string]bool{}
	for _, name := range sortedNames(c) {
		for _, dep := range sortedKeys(c.Services[name].DependsOn) {
			cond := c.Services[name].DependsOn[dep]
			d, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
				continue
			}
			switch cond {
			case "service_healthy":
				if d.Healthcheck == nil {
					t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case "service_completed_successfully":
				if !d.isOneShot() {
					t.Errorf("%s waits for %s to complete, but %s is restarted (restart %q)", name, dep, dep, d.Restart)
				}
				awaited[dep] = true
			default:
				// Started is not ready: a service that starts before its
				// broker or schema exists fails or, worse, half-works.
				t.Errorf("%s depends on %s with condition %q: wait for service_healthy or service_completed_successfully", name, dep, cond)
			}
		}
	}
	// A one-shot job nobody waits for would run in the background of `up`
	// with no one to notice it failed; the tools profile is run by hand.
	for _, name := range sortedNames(c) {
		s := c.Services[name]
		if s.isOneShot() && !awaited[name] && len(s.Profiles) == 0 {
			t.Errorf("one-shot %s is started by `up` but no service waits for it to complete", name)
		}
	}
}

func TestPortsBoundToLoopback(t *testing.T) {
	c := loadCompose(t)
	published := 0
	for _, name := range sortedNames(c) {
		for _, p := range c.Services[name].Ports {
			published++
			switch p := p.(type) {
			case string:
				if !strings.HasPrefix(p, "127.0.0.1:") {
					t.Errorf("%s publishes %q: bind it to 127.0.0.1 (\"127.0.0.1:HOST:CONTAINER\")", name, p)
				}
			case map[string]any:
				if p["host_ip"] != "127.0.0.1" {
					t.Errorf("%s publishes %v: set host_ip: 127.0.0.1", name, p)
				}
			default:
				t.Errorf("%s publishes %v (%T): write it as \"127.0.0.1:HOST:CONTAINER\"", name, p, p)
			}
		}
	}
	if published == 0 {
		t.Fatal("no published ports found: the parser no longer sees them")
	}
}

// streamlabInvocations lists every way the compose file runs the binary.
func streamlabInvocations(t *testing.T, c *composeFile, env map[string]string) []invocation {
	t.Helper()
	var out []invocation
	for _, name := range sortedNames(c) {
		s := c.Services[name]
		if !s.isStreamlab() {
			continue
		}
		if len(s.Entrypoint) > 0 && !slices.Equal(s.Entrypoint, []string{"/streamlab"}) {
			t.Errorf("%s overrides the entrypoint with %v", name, s.Entrypoint)
		}
		senv := map[string]string{}
		for k, v := range s.Environment {
			val, missing := interpolate(v, env)
			if len(missing) > 0 {
				t.Errorf("%s: %s uses %v, which .env.example does not set", name, k, missing)
			}
			senv[k] = val
		}
		if len(s.Command) > 0 {
			out = append(out, invocation{where: "service " + name, args: s.Command, env: senv})
		} else if len(s.Profiles) == 0 {
			t.Errorf("%s runs the image without a command (it would print the help and exit)", name)
		}
		if s.Healthcheck != nil && len(s.Healthcheck.Test) > 2 && s.Healthcheck.Test[1] == "/streamlab" {
			// The probe is exec'd in the container and so inherits its
			// environment, but only its explicit flags matter here.
			out = append(out, invocation{where: "service " + name + " healthcheck", args: s.Healthcheck.Test[2:]})
		}
	}
	return out
}

func TestStreamlabCommandsAndEnvMatchTheCLI(t *testing.T) {
	c := loadCompose(t)
	env := loadEnvExample(t)
	invs := streamlabInvocations(t, c, env)
	// The tools service (`docker compose run --rm cli ...`) gets its
	// command from the Makefile and run.ps1; its environment applies to
	// each of those.
	cliEnv := map[string]string{}
	for _, name := range sortedNames(c) {
		if s := c.Services[name]; s.isStreamlab() && len(s.Profiles) > 0 {
			for k, v := range s.Environment {
				cliEnv[k], _ = interpolate(v, env)
			}
		}
	}
	for _, inv := range verbInvocations(t) {
		inv.env = cliEnv
		invs = append(invs, inv)
	}
	if len(invs) < 6 {
		t.Fatalf("found only %d streamlab invocations: the parser no longer sees them", len(invs))
	}
	var problems []string
	for _, inv := range invs {
		problems = append(problems, inv.check()...)
	}
	if len(problems) > 0 {
		t.Errorf("the deployment runs commands or sets flags the binary does not have:\n  %s", strings.Join(problems, "\n  "))
	}
}

func TestEnvExampleMatchesCompose(t *testing.T) {
	raw := readRepoFile(t, "docker-compose.yml")
	env := loadEnvExample(t)
	used := map[string]bool{}
	for _, line := range strings.Split(raw, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range varRef.FindAllStringSubmatch(line, -1) {
			name := m[1] + m[4]
			if name == "" {
				continue // $$
			}
			used[name] = true
			defaulted := m[2] == ":-" || m[2] == "-"
			if _, ok := env[name]; !ok && !defaulted {
				t.Errorf("docker-compose.yml needs ${%s}, but .env.example does not set it", name)
			}
		}
	}
	for _, k := range sortedKeys(env) {
		if !used[k] {
			t.Errorf(".env.example sets %s, which docker-compose.yml never uses", k)
		}
	}
	for _, secret := range []string{"CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "DISCORD_WEBHOOK_URL"} {
		if !used[secret] {
			t.Errorf("the secret %s must come from .env", secret)
		}
	}
	// .env holds the secrets: it must stay out of git and out of the image.
	for _, f := range []string{".gitignore", ".dockerignore"} {
		if !slices.Contains(strings.Fields(readRepoFile(t, f)), ".env") {
			t.Errorf("%s must list .env", f)
		}
	}
}

func TestMetricsEndpointsAgree(t *testing.T) {
	c := loadCompose(t)
	var prom struct {
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
	env := loadEnvExample(t)
	checked := 0
	for _, name := range sortedNames(c) {
		s := c.Services[name]
		if !s.isStreamlab() || s.isOneShot() {
			continue
		}
		checked++
		addr, ok := s.Environment[cli.EnvName("metrics-addr")]
		if !ok {
			t.Errorf("%s: set %s explicitly, so that the healthcheck and Prometheus visibly use the same port", name, cli.EnvName("metrics-addr"))
			continue
		}
		addr, _ = interpolate(addr, env)
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: metrics address %q: %v", name, addr, err)
			continue
		}
		want := "http://localhost:" + port + "/healthz"
		if hc := s.Healthcheck; hc == nil || !slices.Contains(hc.Test, want) {
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
			if _, ok := c.Services[host]; !ok && host != "localhost" {
				t.Errorf("deploy/prometheus.yml: job %s scrapes %s, which is not a compose service", job, tg)
			}
		}
	}
}

func TestMountedFilesExist(t *testing.T) {
	c := loadCompose(t)
	mounts := map[string]string{} // target -> host path, for the Grafana checks
	for _, name := range sortedNames(c) {
		for _, v := range c.Services[name].Volumes {
			src, dst := "", ""
			switch v := v.(type) {
			case string:
				parts := strings.Split(v, ":")
				if len(parts) < 2 {
					t.Errorf("%s: volume %q: want SOURCE:TARGET", name, v)
					continue
				}
				src, dst = parts[0], parts[1]
			case map[string]any:
				src, _ = v["source"].(string)
				dst, _ = v["target"].(string)
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if filepath.IsAbs(src) {
					t.Errorf("%s mounts the absolute host path %s: use a path inside the repository", name, src)
					continue
				}
				if _, err := os.Stat(repoPath(src)); err != nil {
					t.Errorf("%s mounts %s, which is missing from the repository: %v", name, src, err)
				}
				mounts[dst] = src
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s uses the volume %q, which is not declared under volumes:", name, src)
			}
		}
	}
	// Grafana finds its provisioning under /etc/grafana/provisioning and the
	// dashboard files wherever the dashboards provider points.
	if mounts["/etc/grafana/provisioning"] != "./grafana/provisioning" || mounts["/var/lib/grafana/dashboards"] != "./grafana/dashboards" {
		t.Fatalf("grafana must mount ./grafana/provisioning at /etc/grafana/provisioning and ./grafana/dashboards at /var/lib/grafana/dashboards, got %v", mounts)
	}
	for _, dir := range []string{"grafana/provisioning/datasources", "grafana/provisioning/dashboards"} {
		if fi, err := os.Stat(repoPath(dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s is missing: Grafana would start without it", dir)
		}
	}
	checkGrafanaProvisioning(t, c)
}

// checkGrafanaProvisioning checks the provisioning files against the
// compose file: dashboard providers read the mounted dashboards directory,
// and every $VAR they expand is in Grafana's environment.
func checkGrafanaProvisioning(t *testing.T, c *composeFile) {
	g, ok := c.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
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
				if _, ok := g.Environment[v]; !ok {
					t.Errorf("%s expands $%s, but the grafana service does not set it", rel, v)
				}
			}
		}
		switch filepath.Base(filepath.Dir(f)) {
		case "datasources":
			checkDatasources(t, c, rel, b)
			continue
		case "dashboards":
		default:
			continue
		}
		var p struct {
			Providers []struct {
				Name    string `yaml:"name"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		if err := yaml.Unmarshal(b, &p); err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		for _, pr := range p.Providers {
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
		t.Skip("no docker compose CLI on this machine: the compose file is checked by the parser tests only")
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
func checkDatasources(t *testing.T, c *composeFile, rel string, b []byte) {
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
			ch, ok := c.Services[ds.JSONData["host"]]
			if !ok {
				t.Errorf("%s: datasource %q: host %q is not a compose service", rel, ds.Name, ds.JSONData["host"])
				continue
			}
			wantPort := map[string]string{"native": "9000", "http": "8123"}[cmpOr(ds.JSONData["protocol"], "native")]
			if ds.JSONData["port"] != wantPort {
				t.Errorf("%s: datasource %q: port %q, want %s for protocol %q", rel, ds.Name, ds.JSONData["port"], wantPort, ds.JSONData["protocol"])
			}
			if user := ch.Environment["CLICKHOUSE_USER"]; ds.JSONData["username"] != user && ds.JSONData["username"] != "$CLICKHOUSE_USER" && ds.JSONData["username"] != "${CLICKHOUSE_USER}" {
				t.Errorf("%s: datasource %q: username %q, but ClickHouse is started with user %q", rel, ds.Name, ds.JSONData["username"], user)
			}
			if _, set := ch.Environment["CLICKHOUSE_PASSWORD"]; set {
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
			if _, ok := c.Services[u.Hostname()]; !ok || u.Port() != "9090" {
				t.Errorf("%s: datasource %q: url %q is not the compose prometheus service on 9090", rel, ds.Name, ds.URL)
			}
		}
	}
}
