package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/offline"
)

func newProcessCmd() *cobra.Command {
	var wf windowFlags
	var input, aggOut, dlqOut, now string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "process",
		Short: "Run the pipeline offline on a file: one raw message value per line",
		Long: `Process runs the same parse, validation and window engine as the Kafka
processor on a file. Every line is one raw message value of partition 0 and its
0-based line index is its offset; --now stands in for the Kafka timestamp of
every line, so the output is a function of the input and --now alone. It writes
every aggregate emission, one JSON object per line, and one JSON object per dead
letter, then a summary on stderr. "-" means stdin/stdout.`,
		Example: `  streamlab gen --seed 1 --count 100000 > log.jsonl
  streamlab process --input log.jsonl --aggregates-out aggs.jsonl --dlq-out dlq.jsonl`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("process takes no arguments: give the file with --input %s", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			wcfg, lim, err := wf.config()
			if err != nil {
				return err
			}
			var at time.Time
			if now != "" {
				if at, err = time.Parse(time.RFC3339Nano, now); err != nil {
					return usagef("%s %q: want an RFC 3339 time such as 2026-01-01T12:00:00Z", flagRef("now"), now)
				}
			}
			if err := checkPaths(input, aggOut, dlqOut); err != nil {
				return err
			}
			in, closeIn, err := openInput(cmd.InOrStdin(), input)
			if err != nil {
				return err
			}
			defer closeIn()
			aw, closeAgg, err := openOutput(cmd.OutOrStdout(), aggOut)
			if err != nil {
				return err
			}
			dw := aw
			closeDLQ := func() error { return nil }
			if !samePath(dlqOut, aggOut) {
				if dw, closeDLQ, err = openOutput(cmd.OutOrStdout(), dlqOut); err != nil {
					closeAgg()
					return err
				}
			}
			sum, runErr := offline.Run(cmd.Context(), offline.Config{Window: wcfg, Limits: lim, Now: at}, in, aw, dw)
			errAgg, errDLQ := closeAgg(), closeDLQ()
			if runErr != nil {
				return runErr
			}
			if errAgg != nil {
				return fmt.Errorf("close %s: %w", aggOut, errAgg)
			}
			if errDLQ != nil {
				return fmt.Errorf("close %s: %w", dlqOut, errDLQ)
			}
			if !quiet {
				printSummary(cmd.ErrOrStderr(), sum)
			}
			return nil
		},
	}
	wf.register(cmd.Flags())
	cmd.Flags().StringVarP(&input, "input", "i", "-", "input file, one raw message value per line (- for stdin)")
	cmd.Flags().StringVar(&aggOut, "aggregates-out", "-", "where to write aggregate emissions as JSON lines (- for stdout)")
	cmd.Flags().StringVar(&dlqOut, "dlq-out", "-", "where to write dead letters as JSON lines (- for stdout)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print the summary on stderr")
	cmd.Flags().StringVar(&now, "now", "", "the record timestamp of every line, RFC 3339: future_event and the watermark's skew cap compare with it, dead letters carry it as failed_at (default: the wall clock when the run starts)")
	return cmd
}

// samePath reports whether two paths name the same file ("-" is stdout).
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	if a == "-" || b == "-" {
		return false
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		aa, _ := filepath.Abs(a)
		ab, _ := filepath.Abs(b)
		return aa == ab
	}
	return os.SameFile(sa, sb)
}

// checkPaths refuses to overwrite the input with an output.
func checkPaths(input string, outputs ...string) error {
	if input == "-" {
		return nil
	}
	for _, o := range outputs {
		if o != "-" && samePath(input, o) {
			return fmt.Errorf("output %s is the input file: it would be truncated before it is read", o)
		}
	}
	return nil
}

func openInput(stdin io.Reader, path string) (io.Reader, func(), error) {
	if path == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open input: %w", err)
	}
	return f, func() { f.Close() }, nil
}

func openOutput(stdout io.Writer, path string) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create output: %w", err)
	}
	return f, f.Close, nil
}

func printSummary(w io.Writer, s *offline.Summary) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Lines) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "lines %d  counted %d  duplicates %d  dead letters %d  windows %d  emissions %d\n",
		s.Lines, s.Counted, s.Duplicates, s.DeadLettered(), s.Windows, s.Emissions)
	if s.Emissions > 0 {
		fmt.Fprintf(w, "emissions: %d first + %d upserts; the highest revision of each window (window_start, source_partition) is its final value\n",
			s.Windows, s.Upserts)
	}
	reasons := make([]string, 0, len(s.DeadLetters))
	for _, r := range event.Reasons() {
		if n := s.DeadLetters[r]; n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(reasons) > 0 {
		fmt.Fprintf(w, "dead letters by reason: %s\n", strings.Join(reasons, ", "))
	}
	fmt.Fprintf(w, "elapsed %s  %.0f lines/s\n", s.Elapsed.Round(time.Millisecond), rate)
}
