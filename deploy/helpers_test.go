// Package deploy_test checks the deployment files (docker-compose.yml, the
// Dockerfile, deploy/prometheus.yml, .env.example, the Makefile, run.ps1 and
// the CI workflow) against each other and against the code they run, so
// that a renamed flag, a new secret or a forgotten port binding fails `go
// test` instead of the first `make up` of whoever reads the repository. The
// compose file is loaded by compose-go, the library `docker compose` itself
// uses; the house rules are checked on top. None of it needs Docker.
package deploy_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	streamlab "github.com/streamlab/streamlab/cli"
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

// composeOptions are the options `docker compose` itself loads a project
// with (docker/compose cmd/compose: working directory, an env file for
// interpolation, profiles, paths resolved against the project directory),
// less the process environment, so that the developer's shell cannot
// change what the tests see. unset collects every ${VAR} or $VAR used
// without a default that the env file does not set: Compose would warn and
// put in an empty string.
func composeOptions(file, envFile string, profiles []string, unset *[]string, extra ...cli.ProjectOptionsFn) (*cli.ProjectOptions, error) {
	record := func(o *loader.Options) {
		if o.Interpolate == nil {
			return
		}
		o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
			return template.SubstituteWithOptions(s, m, template.WithoutLogging,
				template.WithReplacementFunction(func(sub string, m template.Mapping, cfg *template.Config) (string, error) {
					if v := bareVar.FindStringSubmatch(sub); v != nil {
						if _, ok := m(v[1]); !ok && unset != nil {
							*unset = append(*unset, v[1])
						}
					}
					return template.DefaultReplacementFunc(sub, m, cfg)
				}))
		}
	}
	return cli.NewProjectOptions([]string{file}, append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithEnvFiles(envFile),
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
		cli.WithLoadOptions(record),
	}, extra...)...)
}

// bareVar is a variable reference without a default or an error message.
var bareVar = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$`)

// loadProjectFile loads a compose file with an env file as Compose would.
func loadProjectFile(file, envFile string, profiles ...string) (*types.Project, []string, error) {
	var unset []string
	opts, err := composeOptions(file, envFile, profiles, &unset)
	if err != nil {
		return nil, nil, err
	}
	p, err := opts.LoadProject(context.Background())
	return p, unset, err
}

// loadProject loads docker-compose.yml with .env.example (what `make up`
// copies to .env) and the given profiles: schema validation, interpolation,
// merges, depends_on and volume consistency are compose-go's, as in
// `docker compose config`.
func loadProject(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(repoPath("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p, unset, err := loadProjectFile(abs, repoPath(".env.example"), profiles...)
	if err != nil {
		t.Fatalf("docker-compose.yml with .env.example: %v", err)
	}
	for _, v := range slices.Compact(slices.Sorted(slices.Values(unset))) {
		t.Errorf("docker-compose.yml uses $%s without a default, and .env.example does not set it: Compose would put in an empty string", v)
	}
	if len(p.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return p
}

// isStreamlab reports whether the service runs the image built from the
// repository's Dockerfile.
func isStreamlab(s types.ServiceConfig) bool { return s.Build != nil }

// isOneShot reports whether the service is a job that runs to completion.
func isOneShot(s types.ServiceConfig) bool { return s.Restart == types.RestartPolicyNo }

// environment is a service's environment after interpolation; a variable
// declared without a value (taken from the shell) is empty.
func environment(s types.ServiceConfig) map[string]string {
	out := make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}

// loadEnvExample reads .env.example with Compose's own dotenv parser: the
// values `make up` starts with.
func loadEnvExample(t *testing.T) map[string]string {
	t.Helper()
	env, err := dotenv.GetEnvFromFile(map[string]string{}, []string{repoPath(".env.example")})
	if err != nil {
		t.Fatalf(".env.example: %v", err)
	}
	return env
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
// streamlab.EnvName.
func flagName(envVar string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(envVar, streamlab.EnvPrefix)), "_", "-")
}

// check walks the cobra tree along inv's arguments and returns one message
// per command or flag the binary does not have.
func (inv invocation) check() []string {
	root := streamlab.NewRoot(nil, io.Discard, io.Discard)
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
		if !strings.HasPrefix(k, streamlab.EnvPrefix) {
			continue
		}
		name := flagName(k)
		f := lookupFlag(cmd, name)
		switch {
		case f == nil:
			problems = append(problems, fmt.Sprintf("%s: %s sets --%s, but `%s` has no such flag", inv.where, k, name, path))
		case streamlab.EnvName(f.Name) != k:
			problems = append(problems, fmt.Sprintf("%s: %s is not how --%s is spelled as a variable (%s)", inv.where, k, f.Name, streamlab.EnvName(f.Name)))
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
