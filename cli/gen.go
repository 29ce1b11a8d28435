package cli

import (
	"bufio"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/gen"
)

func newGenCmd() *cobra.Command {
	var wf windowFlags
	var gf genFlags
	var count int64
	var out string
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a synthetic event log, one raw message value per line",
		Long: `Gen writes the producer's synthetic clickstream and order events as JSON
lines that 'streamlab process' reads: sessions walking the funnel, payments
failing, refunds, several currencies, plus out-of-order, allowed-late, too-late,
duplicate, malformed, oversized and future events in the given ratios. The same
seed and settings always give the same bytes.`,
		Example: `  streamlab gen --seed 1 --count 100000 > log.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 0 {
				return usagef("%s %d: must not be negative", flagRef("count"), count)
			}
			span := time.Duration(0)
			if gf.cfg.EventsPerSecond > 0 {
				span = time.Duration(float64(count) / gf.cfg.EventsPerSecond * float64(time.Second))
			}
			cfg, err := gf.config(&wf, span)
			if err != nil {
				return err
			}
			g, err := gen.New(cfg)
			if err != nil {
				return err
			}
			w, closeOut, err := openOutput(cmd.OutOrStdout(), out)
			if err != nil {
				return err
			}
			bw := bufio.NewWriterSize(w, 256<<10)
			for i := int64(0); i < count; i++ {
				if i&4095 == 0 && cmd.Context().Err() != nil {
					closeOut()
					return cmd.Context().Err()
				}
				m := g.Next()
				bw.Write(m.Value)
				bw.WriteByte('\n')
			}
			if err := bw.Flush(); err != nil {
				closeOut()
				return fmt.Errorf("write events: %w", err)
			}
			return closeOut()
		},
	}
	wf.register(cmd.Flags())
	gf.register(cmd.Flags(), gen.DefaultStart.Format("2006-01-02T15:04:05Z07:00"))
	hide(cmd.Flags(), unusedByGenerator...)
	cmd.Flags().Int64VarP(&count, "count", "n", 10000, "number of messages")
	cmd.Flags().StringVarP(&out, "output", "o", "-", "output file (- for stdout)")
	return cmd
}
