package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

func newTopicsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Manage the pipeline's Kafka topics"}
	var kf kafkaFlags
	var partitions int
	var retention time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Create the raw, DLQ, aggregate, alert, state and replay-ledger topics (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			if partitions < 1 {
				return usagef("%s %d: must be at least 1", flagRef("partitions"), partitions)
			}
			specs := topic.Specs(kf.topics, partitions, retention)
			created, err := kafkaio.CreateTopics(cmd.Context(), brokers, specs)
			for _, s := range specs {
				state := "exists"
				for _, c := range created {
					if c == s.Name {
						state = "created"
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-32s %-8s partitions=%d\n", s.Name, state, s.Partitions)
			}
			return err
		},
	}
	kf.register(create.Flags())
	create.Flags().IntVar(&partitions, "partitions", 3, "partitions of the raw, DLQ, aggregate and state topics")
	create.Flags().DurationVar(&retention, "retention", 7*24*time.Hour, "retention of the raw, DLQ, aggregate and alert topics; records carry the producer's event clock as timestamp, so a log generated with an old --start needs a longer retention")
	cmd.AddCommand(create)
	return cmd
}
