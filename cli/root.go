// Package cli wires the streamlab roles into one cobra command tree; it is
// the only package that knows flag names and STREAMLAB_* variables.
//
// Conventions every command follows:
//
//   - Every flag falls back to an environment variable STREAMLAB_<FLAG_NAME>
//     (dashes become underscores), so docker-compose can configure any role
//     without a command line; --help shows each flag's variable (annotateEnv).
//   - Exit codes: 0 success; 2 usage error (unknown command or flag, a value
//     that does not parse, wrong arguments, an out-of-range value, a config
//     built from flags that fails its Validate); 1 runtime failure. Cobra's
//     own rejections are usage errors without further ado; a command returns
//     one with usagef or usageErr, or turns a config's Validate error into
//     one with fieldFlags.invalid (example below).
//   - Service packages name fields, never flags, in their errors ("Rate must
//     not be negative, got -1"); an out-of-range value is an error there,
//     never silently replaced by a default. fieldFlags.invalid replaces each
//     field name with the flag and its variable.
//   - Every role that talks to Kafka registers connectFlags (one
//     --connect-timeout, default 3m) and hands connectFlags.policy() to
//     internal/retry with kafkaio.Transient: transient errors are retried up
//     to that bound with one log line per change of state; permanent ones
//     end the command at once with one message that says what to fix.
//   - No command but the root sets PersistentPreRun(E): the root's hook
//     applies the environment and marks the point after which an error is a
//     runtime failure (TestCommandTree checks it).
//
// A role command, in short:
//
//	var producerFields = fieldFlags{"Rate": "rate", "Count": "count"}
//	...
//	cfg := producer.Config{Rate: rate, Count: count}
//	if err := producerFields.invalid(cfg.Validate()); err != nil {
//		return err // exit 2: "--rate (STREAMLAB_RATE) must not be negative, got -1"
//	}
//	return producer.Run(ctx, cfg) // an error here exits 1
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// EnvPrefix prefixes every flag's environment variable.
const EnvPrefix = "STREAMLAB_"

// flagRef names a flag and its environment variable in error messages, so
// the message says what to fix wherever the value came from.
func flagRef(name string) string { return "--" + name + " (" + EnvName(name) + ")" }

// EnvName is the environment variable that backs a flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Main runs the CLI and returns the process exit code (see the package
// comment).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, ran := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := unknownSubcommand(root, args)
	if err == nil {
		err = root.ExecuteContext(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "streamlab: %v\n", err)
	}
	return exitCode(err, *ran)
}

// NewRoot builds the command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root, _ := newRoot(stdin, stdout, stderr)
	return root
}

// newRoot builds the command tree; *ran becomes true once cobra accepted
// the command line and streamlab's own code starts.
func newRoot(stdin io.Reader, stdout, stderr io.Writer) (*cobra.Command, *bool) {
	var logLevel, logFormat string
	ran := new(bool)
	root := &cobra.Command{
		Use:           "streamlab",
		Short:         "A real-time clickstream and order pipeline you can run, break and repair",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			*ran = true
			if err := applyEnv(cmd); err != nil {
				return usageErr(err)
			}
			return usageErr(setupLogging(stderr, logLevel, logFormat))
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(newVersionCmd(), newProcessCmd(), newGenCmd(), newTopicsCmd(), newProducerCmd(), newProcessorCmd(), newDLQCmd(), newHealthcheckCmd(), newDemoCmd(), newDispatcherCmd(), newChaosCmd(), newClickHouseCmd(), newVerifyAlias())
	// Cobra adds these lazily on Execute; adding them now lets
	// unknownSubcommand find them and annotateEnv reach their flags.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	annotateEnv(root)
	return root, ran
}

// applyEnv fills every flag the user did not set from its environment
// variable, and says which variable was wrong when a value does not parse.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	apply := func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		// An empty variable means "not set" for anything but a string flag
		// (compose's ${X:-} idiom); for a string, empty is a real value.
		if !ok || (v == "" && f.Value.Type() != "string") {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q: %w", EnvName(f.Name), v, err))
		}
	}
	cmd.Flags().VisitAll(apply)
	cmd.InheritedFlags().VisitAll(apply)
	return errors.Join(errs...)
}

func setupLogging(w io.Writer, level, format string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("%s %q: want debug, info, warn or error", flagRef("log-level"), level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(w, opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(w, opts)))
	default:
		return fmt.Errorf("%s %q: want text or json", flagRef("log-format"), format)
	}
	return nil
}
