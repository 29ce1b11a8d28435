package cli

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of Main.
const (
	exitOK      = 0
	exitRuntime = 1 // the command line was fine; running it failed
	exitUsage   = 2 // the command line was wrong: unknown flag, bad value, bad config
)

// usageError marks a problem with how streamlab was invoked: Main exits 2.
// msg is what the user reads (flag names instead of field names); err is
// kept for errors.Is and errors.As.
type usageError struct {
	msg string
	err error
}

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return e.err }

// usageErr marks err as a usage error; nil stays nil.
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	return &usageError{msg: err.Error(), err: err}
}

// usagef is fmt.Errorf for usage errors.
func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

// exitError carries a specific exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode maps what a command returned to the process exit code. ran is
// false when cobra rejected the command line before any streamlab code ran
// (unknown command or flag, a value that does not parse, wrong arguments):
// those are usage errors whatever their type.
func exitCode(err error, ran bool) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), !ran:
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	default:
		return exitRuntime
	}
}

// fieldFlags maps the field names a config's Validate uses in its messages
// ("Rate must not be negative") to the flags that set those fields
// ("rate"). A key may be a dotted path ("Gen.Users") for nested configs.
type fieldFlags map[string]string

// invalid turns the error of a config's Validate into a usage error whose
// message names, in place of every field it mentions, the flag and its
// environment variable: "--rate (STREAMLAB_RATE) must not be negative".
// A nil err stays nil.
func (ff fieldFlags) invalid(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{msg: ff.rename(err.Error()), err: err}
}

// identChar reports whether c can be part of a field name, so that "Rate"
// is not found inside "MaxRate" or "Rates".
func identChar(c byte) bool {
	return c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// rename replaces every whole-word field name in msg with its flag. A
// trailing '.' ends a sentence, not a dotted path.
func (ff fieldFlags) rename(msg string) string {
	if len(ff) == 0 {
		return msg
	}
	fields := make([]string, 0, len(ff))
	for f := range ff {
		fields = append(fields, regexp.QuoteMeta(f))
	}
	// Longest first, so that "Gen.Users" wins over "Users".
	sort.Slice(fields, func(i, j int) bool { return len(fields[i]) > len(fields[j]) })
	re := regexp.MustCompile(strings.Join(fields, "|"))
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringIndex(msg, -1) {
		start, end := m[0], m[1]
		before := start == 0 || !identChar(msg[start-1])
		after := end == len(msg) || !identChar(msg[end]) || (msg[end] == '.' && (end+1 == len(msg) || !identChar(msg[end+1])))
		if !before || !after {
			continue
		}
		b.WriteString(msg[last:start])
		b.WriteString(flagRef(ff[msg[start:end]]))
		last = end
	}
	b.WriteString(msg[last:])
	return b.String()
}

// unknownSubcommand catches what cobra lets through: a command that only
// groups others (chaos, dlq, topics, clickhouse) given a word that is none
// of its subcommands prints its help and succeeds in cobra; here it is a
// usage error, like an unknown command at the top.
func unknownSubcommand(root *cobra.Command, args []string) error {
	if len(args) > 0 && strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		return nil
	}
	cmd, rest, err := root.Find(args)
	if err != nil || cmd.Runnable() || !cmd.HasSubCommands() {
		return nil
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") {
			msg := fmt.Sprintf("unknown command %q for %q", a, cmd.CommandPath())
			if s := cmd.SuggestionsFor(a); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usagef("%s (run '%s --help' for its commands)", msg, cmd.CommandPath())
		}
		if f := lookupFlag(cmd, a); f != nil && f.NoOptDefVal == "" && !strings.Contains(a, "=") {
			i++ // the flag's value
		}
	}
	return nil
}

// lookupFlag finds the flag an argument like "--log-level" or "-o" names.
func lookupFlag(cmd *cobra.Command, arg string) *pflag.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, fs := range []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags()} {
		if f := fs.Lookup(name); f != nil {
			return f
		}
		if len(name) == 1 {
			if f := fs.ShorthandLookup(name); f != nil {
				return f
			}
		}
	}
	return nil
}

// annotateEnv appends "(env STREAMLAB_X)" to the usage text of every flag
// of cmd and its subcommands, so that every --help shows the variable
// behind each flag.
func annotateEnv(cmd *cobra.Command) {
	add := func(f *pflag.Flag) {
		if f.Name == "help" || strings.Contains(f.Usage, "(env "+EnvPrefix) {
			return
		}
		f.Usage += " (env " + EnvName(f.Name) + ")"
	}
	cmd.Flags().VisitAll(add)
	cmd.PersistentFlags().VisitAll(add)
	for _, c := range cmd.Commands() {
		annotateEnv(c)
	}
}
