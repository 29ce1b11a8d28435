package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		code int
		say  string // part of stderr
	}{
		{args: []string{"version"}, code: 0},
		{args: []string{"chaos"}, code: 0}, // a group alone shows its help
		{args: []string{"--help"}, code: 0},
		{args: []string{"bogus"}, code: 2, say: `unknown command "bogus"`},
		{args: []string{"chaos", "bogus"}, code: 2, say: `unknown command "bogus" for "streamlab chaos"`},
		{args: []string{"chaos", "--log-level", "debug", "lat"}, code: 2, say: `did you mean "late"?`},
		{args: []string{"gen", "--bogus"}, code: 2, say: "unknown flag: --bogus"},
		{args: []string{"gen", "--count", "abc"}, code: 2, say: `invalid argument "abc"`},
		{args: []string{"gen", "extra"}, code: 2, say: `unknown command "extra"`},
		{args: []string{"gen", "--count", "-1"}, code: 2, say: "--count (STREAMLAB_COUNT) -1: must not be negative"},
		{args: []string{"process", "--window", "0s"}, code: 2, say: "--window (STREAMLAB_WINDOW) 0s: must be positive"},
		{args: []string{"gen", "--users", "0"}, code: 2, say: "--users (STREAMLAB_USERS) must be in"},
		{args: []string{"gen", "--malformed-ratio", "2"}, code: 2, say: "--malformed-ratio (STREAMLAB_MALFORMED_RATIO) must be in [0, 1]"},
		{args: []string{"producer", "--window", "0s"}, code: 2, say: "--window (STREAMLAB_WINDOW) must be a whole number of milliseconds"},
		{args: []string{"process", "--now", "yesterday"}, code: 2, say: "--now (STREAMLAB_NOW)"},
		{args: []string{"gen", "--start", "yesterday"}, code: 2, say: "--start (STREAMLAB_START)"},
		{args: []string{"gen", "--count", "1"}, env: map[string]string{"STREAMLAB_COUNT": "abc"}, code: 0}, // the flag wins
		{args: []string{"gen"}, env: map[string]string{"STREAMLAB_COUNT": "abc"}, code: 2, say: `STREAMLAB_COUNT="abc"`},
		{args: []string{"version", "--log-level", "loud"}, code: 2, say: "--log-level (STREAMLAB_LOG_LEVEL)"},
		{args: []string{"topics", "create", "--partitions", "0"}, code: 2, say: "--partitions (STREAMLAB_PARTITIONS) 0: must be at least 1"},
		{args: []string{"topics", "create", "--brokers", "nohostport"}, code: 2, say: "want host:port"},
		{args: []string{"process", "--input", "/nonexistent/streamlab-test.jsonl"}, code: 1, say: "open input"},
		{args: []string{"producer", "--rate", "-1"}, code: 2, say: "--rate (STREAMLAB_RATE) must be a finite number of messages per second, at least 0; got -1"},
		{args: []string{"producer", "--rate", "10", "--events-per-second", "5"}, code: 2, say: "--events-per-second (STREAMLAB_EVENTS_PER_SECOND) applies only with --rate (STREAMLAB_RATE) 0"},
		{args: []string{"producer", "--connect-timeout", "-1s"}, code: 2, say: "--connect-timeout (STREAMLAB_CONNECT_TIMEOUT) -1s: must not be negative"},
		{args: []string{"chaos", "late", "--count", "0"}, code: 2, say: "--count (STREAMLAB_COUNT) must be at least 1, got 0"},
		{args: []string{"topics", "create", "--retention", "0s"}, code: 2, say: "--retention (STREAMLAB_RETENTION) 0s: must be a positive whole number of milliseconds"},
		{args: []string{"clickhouse", "apply", "--clickhouse-dsn", "bogus://"}, code: 2, say: "--clickhouse-dsn (STREAMLAB_CLICKHOUSE_DSN)"},
		{args: []string{"clickhouse", "verify", "--timeout", "0s"}, code: 2, say: "--timeout (STREAMLAB_TIMEOUT) 0s: must be positive"},
		{args: []string{"clickhouse", "apply", "--clickhouse-dsn", "clickhouse://default:@127.0.0.1:1/default", "--connect-timeout", "300ms"}, code: 1, say: "connect to ClickHouse: gave up after"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, "", c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			if c.code == 0 && stderr != "" {
				t.Errorf("stderr on success:\n%s", stderr)
			}
			if c.code != 0 && (!strings.Contains(stderr, c.say) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 && c.code == 2) {
				t.Errorf("stderr should say %q in one line:\n%s", c.say, stderr)
			}
		})
	}
}

func TestExitCodeOfErrors(t *testing.T) {
	plain := errors.New("boom")
	cases := []struct {
		err  error
		ran  bool
		code int
	}{
		{nil, true, 0},
		{plain, true, 1},
		{plain, false, 2}, // cobra rejected the command line
		{fmt.Errorf("wrapped: %w", usageErr(plain)), true, 2},
		{&exitError{code: 1, err: plain}, true, 1},
		{fieldFlags{"Rate": "rate"}.invalid(plain), true, 2},
	}
	for _, c := range cases {
		if got := exitCode(c.err, c.ran); got != c.code {
			t.Errorf("exitCode(%v, ran=%v) = %d, want %d", c.err, c.ran, got, c.code)
		}
	}
	if fieldFlags(nil).invalid(nil) != nil || usageErr(nil) != nil {
		t.Error("a nil error must stay nil")
	}
	if !errors.Is(fieldFlags{"Rate": "rate"}.invalid(plain), plain) {
		t.Error("invalid must keep the original error for errors.Is")
	}
}

func TestFieldFlagsRename(t *testing.T) {
	ff := fieldFlags{"Rate": "rate", "Count": "count", "Gen.Users": "users", "Users": "population"}
	cases := map[string]string{
		"Rate must not be negative, got -1":           "--rate (STREAMLAB_RATE) must not be negative, got -1",
		"producer: Count and Rate disagree":           "producer: --count (STREAMLAB_COUNT) and --rate (STREAMLAB_RATE) disagree",
		"MaxRate and Rates and rate stay":             "MaxRate and Rates and rate stay",
		"Gen.Users must be positive":                  "--users (STREAMLAB_USERS) must be positive",
		"Users must be positive":                      "--population (STREAMLAB_POPULATION) must be positive",
		"too high: Rate.":                             "too high: --rate (STREAMLAB_RATE).",
		"Rate must be positive\nCount must be set":    "--rate (STREAMLAB_RATE) must be positive\n--count (STREAMLAB_COUNT) must be set",
		"nothing to rename":                           "nothing to rename",
		"Rate_x is another identifier; so is x.Count": "Rate_x is another identifier; so is x.Count",
	}
	for in, want := range cases {
		if got := ff.rename(in); got != want {
			t.Errorf("rename(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	joined := ff.invalid(errors.Join(errors.New("Rate must be positive"), errors.New("Count must be set")))
	if want := "--rate (STREAMLAB_RATE) must be positive\n--count (STREAMLAB_COUNT) must be set"; joined.Error() != want {
		t.Errorf("joined: %q", joined)
	}
}

func TestConnectFlags(t *testing.T) {
	var cf connectFlags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	cf.register(fs, "Kafka")
	if p, err := cf.policy(); err != nil || p.Timeout.Minutes() != 3 {
		t.Fatalf("default: %v %v", p, err)
	}
	if err := fs.Parse([]string{"--connect-timeout", "-1s"}); err != nil {
		t.Fatal(err)
	}
	_, err := cf.policy()
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--connect-timeout (STREAMLAB_CONNECT_TIMEOUT) -1s") {
		t.Fatalf("negative timeout: %v", err)
	}
}

// walk visits every command of the tree, hidden ones included.
func walk(c *cobra.Command, visit func(*cobra.Command)) {
	visit(c)
	for _, sub := range c.Commands() {
		walk(sub, visit)
	}
}

// TestCommandTree checks every command: its --help shows each flag's
// environment variable on the flag's own line, and only the root has a
// persistent pre-run hook (the one that marks where runtime errors start).
func TestCommandTree(t *testing.T) {
	root := NewRoot(nil, io.Discard, io.Discard)
	commands := 0
	walk(root, func(c *cobra.Command) {
		commands++
		if c != root && (c.PersistentPreRun != nil || c.PersistentPreRunE != nil) {
			t.Errorf("%s sets a persistent pre-run hook: it would replace the root's", c.CommandPath())
		}
		path := strings.Fields(c.CommandPath())[1:]
		code, help, stderr := run(t, "", append(path, "--help")...)
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", c.CommandPath(), code, stderr)
			return
		}
		// Only the flag sections: examples and long texts mention flags too.
		var lines []string
		inFlags := false
		for _, l := range strings.Split(help, "\n") {
			switch {
			case strings.HasSuffix(l, "Flags:"):
				inFlags = true
			case l == "" || !strings.HasPrefix(l, " "):
				inFlags = false
			case inFlags:
				lines = append(lines, l)
			}
		}
		check := func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			// The flag's own line starts with it ("  -o, --output string");
			// other lines may mention it in their usage text.
			own := regexp.MustCompile(`^\s+(-\S, )?--` + regexp.QuoteMeta(f.Name) + `\b`)
			for _, l := range lines {
				if own.MatchString(l) {
					if !strings.Contains(l, "(env "+EnvName(f.Name)+")") {
						t.Errorf("%s --help: the line of --%s does not show %s:\n%s", c.CommandPath(), f.Name, EnvName(f.Name), l)
					}
					return
				}
			}
			t.Errorf("%s --help does not list --%s:\n%s", c.CommandPath(), f.Name, help)
		}
		c.NonInheritedFlags().VisitAll(check)
		c.InheritedFlags().VisitAll(check)
	})
	if commands < 20 {
		t.Errorf("walked only %d commands", commands)
	}
}
