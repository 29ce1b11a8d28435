// Package cli wires the streamlab roles into one cobra command tree. Every
// flag falls back to an environment variable STREAMLAB_<FLAG_NAME> (dashes
// become underscores), so docker-compose can configure any role without a
// command line.
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

// exitError carries a specific exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "streamlab: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// NewRoot builds the command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var logLevel, logFormat string
	root := &cobra.Command{
		Use:           "streamlab",
		Short:         "A real-time clickstream and order pipeline you can run, break and repair",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			return setupLogging(stderr, logLevel, logFormat)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(newVersionCmd(), newProcessCmd(), newGenCmd(), newTopicsCmd(), newProducerCmd(), newProcessorCmd(), newDLQCmd(), newHealthcheckCmd(), newDemoCmd(), newDispatcherCmd(), newChaosCmd(), newClickHouseCmd(), newVerifyAlias())
	return root
}

// applyEnv fills every flag the user did not set from its environment
// variable, and says which variable was wrong when a value does not parse.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	apply := func(f *pflag.Flag) {
		if f.Changed {
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
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(w, opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(w, opts)))
	default:
		return fmt.Errorf("--log-format %q: want text or json", format)
	}
	return nil
}
