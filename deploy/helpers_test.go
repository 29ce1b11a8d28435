// Package deploy_test checks the deployment files (docker-compose.yml, the
// Dockerfile, deploy/prometheus.yml, .env.example, the Makefile and run.ps1)
// against each other and against the code they run, so that a renamed flag,
// a new secret or a forgotten port binding fails `go test` instead of the
// first `make up` of whoever reads the repository. None of it needs Docker.
package deploy_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/streamlab/streamlab/cli"
)

// repo is the repository root, seen from this package's directory.
const repo = ".."

func repoPath(parts ...string) string { return filepath.Join(append([]string{repo}, parts...)...) }

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// composeFile is the part of the Compose specification these tests read.
type composeFile struct {
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       any          `yaml:"build"`
	Command     stringList   `yaml:"command"`
	Entrypoint  stringList   `yaml:"entrypoint"`
	Environment environment  `yaml:"environment"`
	Ports       []any        `yaml:"ports"`
	Volumes     []any        `yaml:"volumes"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Restart     string       `yaml:"restart"`
	Profiles    []string     `yaml:"profiles"`
}

type healthcheck struct {
	Test    stringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}

// stringList is a command in either Compose form: a list, or a string that
// Compose splits on white space.
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// environment is either a map or a list of KEY=VALUE; values may be
// numbers or booleans in the map form.
type environment map[string]string

func (e *environment) UnmarshalYAML(n *yaml.Node) error {
	out := environment{}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = n.Content[i+1].Value
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			k, v, _ := strings.Cut(c.Value, "=")
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
	}
	*e = out
	return nil
}

// dependsOn maps each dependency to its condition; the short list form
// means service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	out := dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			out[c.Value] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = cmpOr(v.Condition, "service_started")
		}
	default:
		return fmt.Errorf("line %d: depends_on must be a map or a list", n.Line)
	}
	*d = out
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return &c
}

// sortedNames gives a deterministic iteration order for error messages.
func sortedNames(c *composeFile) []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// isStreamlab reports whether the service runs the image built from the
// repository's Dockerfile.
func (s *service) isStreamlab() bool { return s.Build != nil }

// isOneShot reports whether the service is a job that runs to completion.
func (s *service) isOneShot() bool { return s.Restart == "no" }

// loadEnvExample reads .env.example: the values `make up` starts with.
func loadEnvExample(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(readRepoFile(t, ".env.example")))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
			t.Fatalf(".env.example:%d: want KEY=VALUE, got %q", line, l)
		}
		env[k] = v
	}
	return env
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate expands a value the way Compose does ($$, $VAR, ${VAR},
// ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}) and
// reports the variables that are neither set nor defaulted.
func interpolate(s string, env map[string]string) (string, []string) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := varRef.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if name == "" {
			name = sub[4]
		}
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?":
			if v == "" {
				missing = append(missing, name)
			}
		case "?":
			if !set {
				missing = append(missing, name)
			}
		default:
			if !set {
				missing = append(missing, name)
			}
		}
		return v
	})
	return out, missing
}

// invocation is one way the deployment runs the streamlab binary: a
// service's command with its environment, a healthcheck, or a Makefile or
// run.ps1 verb.
type invocation struct {
	where string
	args  []string          // after the binary name
	env   map[string]string // STREAMLAB_* variables (interpolated) it runs with
}

// flagName is the flag an environment variable backs: the reverse of
// cli.EnvName.
func flagName(envVar string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(envVar, cli.EnvPrefix)), "_", "-")
}

// check walks the cobra tree along inv's arguments and returns one message
// per command or flag the binary does not have.
func (inv invocation) check() []string {
	root := cli.NewRoot(nil, io.Discard, io.Discard)
	var problems []string
	cmd := root
	i := 0
	for ; i < len(inv.args) && !strings.HasPrefix(inv.args[i], "-"); i++ {
		next := findSub(cmd, inv.args[i])
		if next == nil {
			if cmd.HasSubCommands() || i == 0 {
				return []string{fmt.Sprintf("%s: `streamlab %s`: %q has no subcommand %q (it has: %s)",
					inv.where, strings.Join(inv.args, " "), cmd.CommandPath(), inv.args[i], subNames(cmd))}
			}
			break // a positional argument
		}
		cmd = next
	}
	if cmd == root {
		return []string{fmt.Sprintf("%s: runs streamlab without a command", inv.where)}
	}
	path := cmd.CommandPath()
	if !cmd.Runnable() {
		return []string{fmt.Sprintf("%s: `streamlab %s`: %q needs a subcommand (it has: %s)",
			inv.where, strings.Join(inv.args, " "), path, subNames(cmd))}
	}
	for ; i < len(inv.args); i++ {
		a := inv.args[i]
		if !strings.HasPrefix(a, "--") {
			continue // a flag's value or a positional argument
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if lookupFlag(cmd, name) == nil {
			problems = append(problems, fmt.Sprintf("%s: `%s` has no flag --%s", inv.where, path, name))
		}
	}
	for _, k := range sortedKeys(inv.env) {
		if !strings.HasPrefix(k, cli.EnvPrefix) {
			continue
		}
		name := flagName(k)
		f := lookupFlag(cmd, name)
		switch {
		case f == nil:
			problems = append(problems, fmt.Sprintf("%s: %s sets --%s, but `%s` has no such flag", inv.where, k, name, path))
		case cli.EnvName(f.Name) != k:
			problems = append(problems, fmt.Sprintf("%s: %s is not how --%s is spelled as a variable (%s)", inv.where, k, f.Name, cli.EnvName(f.Name)))
		default:
			if err := f.Value.Set(inv.env[k]); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s=%q is not a valid --%s: %v", inv.where, k, inv.env[k], name, err))
			}
		}
	}
	return problems
}

func findSub(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

func subNames(cmd *cobra.Command) string {
	var names []string
	for _, c := range cmd.Commands() {
		names = append(names, c.Name())
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
