package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

func newTopicsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Manage the pipeline's Kafka topics"}
	var kf kafkaFlags
	var cf connectFlags
	var partitions int
	var retention time.Duration
	var update bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create the raw, DLQ, aggregate, alert, state and replay-ledger topics (idempotent)",
		Long: `Create makes every topic that does not exist, then reads every topic back from
the broker and prints what it has: partitions, whether this run created it, and
each setting that differs from the layout. A topic that exists with settings the
pipeline cannot work with (another partition count, a cleanup policy that loses
records, a DLQ that cannot hold the raw topic's largest records) is an error;
other differences (a retention chosen by the operator) are only shown.
--update-configs sets the layout's settings on existing topics (never their
partition count). A DLQ created next to a raw topic that takes bigger records
than 4 MiB gets room for them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, policy, err := kafkaConnection(&kf, &cf)
			if err != nil {
				return err
			}
			if partitions < 1 {
				return usagef("%s %d: must be at least 1", flagRef("partitions"), partitions)
			}
			if retention <= 0 || retention%time.Millisecond != 0 {
				return usagef("%s %s: must be a positive whole number of milliseconds", flagRef("retention"), retention)
			}
			specs := topic.Specs(kf.topics, partitions, retention)
			states, err := kafkaio.EnsureTopics(cmd.Context(), brokers, specs, kafkaio.EnsureOptions{Retry: policy, Logger: slog.Default(), UpdateConfigs: update})
			if states == nil {
				return kf.explain(err)
			}
			printTopics(cmd.OutOrStdout(), states)
			if err != nil {
				return topicsFix(err, states)
			}
			return nil
		},
	}
	kf.register(create.Flags())
	cf.register(create.Flags(), "Kafka")
	create.Flags().IntVar(&partitions, "partitions", 3, "partitions of the raw, DLQ, aggregate and state topics")
	create.Flags().DurationVar(&retention, "retention", 7*24*time.Hour, "retention of the raw, DLQ, aggregate and alert topics; records carry the producer's event clock as timestamp, so a log generated with an old --start needs a longer retention")
	create.Flags().BoolVar(&update, "update-configs", false, "also set the layout's settings (retention, cleanup policy, size limits) on topics that already exist; partition counts are never changed")
	cmd.AddCommand(create)
	return cmd
}

// printTopics prints what the broker has, one topic per line.
func printTopics(w io.Writer, states []kafkaio.TopicState) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tSTATE\tPARTITIONS\tSETTINGS")
	notes := false
	for _, s := range states {
		state := "exists"
		switch {
		case s.Created:
			state = "created"
		case len(s.Updated) > 0:
			state = "updated " + strings.Join(s.Updated, ",")
		}
		settings := "as specified"
		if len(s.Differences) > 0 {
			var ds []string
			for _, d := range s.Differences {
				notes = notes || !d.Breaks
				mark := ""
				if d.Breaks {
					mark = "PROBLEM "
				}
				ds = append(ds, mark+fmt.Sprintf("%s=%s (want %s)", d.Setting, d.Have, d.Want))
			}
			settings = strings.Join(ds, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Name, state, s.Partitions, settings)
	}
	tw.Flush()
	if notes {
		fmt.Fprintln(w, "Settings that differ without PROBLEM were left as they are; --update-configs sets the layout's.")
	}
}

// topicsFix says what to do about the topics the pipeline cannot use.
func topicsFix(err error, states []kafkaio.TopicState) error {
	partitions, settings := false, false
	for _, s := range states {
		for _, d := range s.Differences {
			if d.Breaks {
				partitions = partitions || d.Setting == "partitions"
				settings = settings || d.Setting != "partitions"
			}
		}
	}
	var fixes []string
	if settings {
		fixes = append(fixes, "run again with --update-configs to set the layout's settings")
	}
	if partitions {
		fixes = append(fixes, "pass the existing topics' partition count with --partitions, or delete the topic (Kafka cannot remove partitions)")
	}
	if len(fixes) == 0 {
		return err
	}
	return fmt.Errorf("%w\nfix: %s", err, strings.Join(fixes, "; "))
}
