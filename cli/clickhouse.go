package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/clickhouse"
)

const defaultDSN = "clickhouse://default:@localhost:9000/default"

func newClickHouseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "clickhouse", Short: "Apply the ClickHouse schema and verify ClickHouse against Kafka"}
	var kf kafkaFlags
	var dsn, database, group string
	var flush, timeout time.Duration
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Apply the ClickHouse schema (Kafka engine tables, materialized views, dashboard views); idempotent",
		Long: `Apply creates the streamlab database: Kafka engine tables reading the aggregate,
dead-letter and alert topics, materialized views into ReplacingMergeTree tables,
and the views the dashboards query. It is idempotent and records each schema file
in schema_migrations; an edited, already-applied file is refused. --brokers is the
Kafka address as the ClickHouse server reaches it (kafka:9092 inside compose).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			p := clickhouse.DefaultParams()
			p.Database, p.Brokers, p.ConsumerGroup, p.FlushInterval = database, brokers, group, flush
			p.AggTopic, p.DLQTopic, p.AlertsTopic = kf.topics.Agg, kf.topics.DLQ, kf.topics.Alerts
			db, err := openClickHouse(cmd.Context(), dsn, timeout)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := clickhouse.Apply(ctx, db, p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema applied to %s (database %s)\n", clickhouse.Redact(dsn), database)
			return nil
		},
	}
	kf.register(apply.Flags())
	apply.Flags().StringVar(&dsn, "clickhouse-dsn", defaultDSN, "ClickHouse native DSN (the password in it is never printed)")
	apply.Flags().StringVar(&database, "database", clickhouse.DefaultDatabase, "database for the tables and views")
	apply.Flags().StringVar(&group, "consumer-group", clickhouse.DefaultParams().ConsumerGroup, "prefix of the Kafka engine consumer groups")
	apply.Flags().DurationVar(&flush, "flush-interval", clickhouse.DefaultParams().FlushInterval, "kafka_flush_interval_ms of the Kafka engine tables")
	apply.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for ClickHouse (it may still be starting)")
	cmd.AddCommand(apply, newVerifyCmd())
	return cmd
}

// newVerifyAlias keeps the old top-level "streamlab verify" working for
// scripts written before it moved under "clickhouse"; it is hidden from help.
func newVerifyAlias() *cobra.Command {
	c := newVerifyCmd()
	c.Hidden = true
	return c
}

// openClickHouse connects and pings, retrying while the server starts (the
// compose setup job may run before ClickHouse accepts queries).
func openClickHouse(ctx context.Context, dsn string, timeout time.Duration) (*clickhouse.Native, error) {
	db, err := clickhouse.OpenNative(dsn)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = db.Ping(pctx)
		cancel()
		if err == nil {
			return db, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			db.Close()
			return nil, fmt.Errorf("clickhouse %s: %w", clickhouse.Redact(dsn), err)
		}
		time.Sleep(time.Second)
	}
}

func newVerifyCmd() *cobra.Command {
	var kf kafkaFlags
	var dsn, database string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Reconcile ClickHouse's per-window totals with the latest aggregates on Kafka (exit 1 on a mismatch)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, err := kf.brokerList()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			recs, err := clickhouse.ReadLatestAggregates(ctx, brokers, kf.topics.Agg)
			if err != nil {
				return err
			}
			db, err := openClickHouse(ctx, dsn, timeout)
			if err != nil {
				return err
			}
			defer db.Close()
			diff, err := clickhouse.VerifyIn(ctx, db, database, recs)
			if err != nil {
				return err
			}
			diff.Render(cmd.OutOrStdout())
			if !diff.OK() {
				return &exitError{code: 1, err: fmt.Errorf("ClickHouse differs from Kafka in %d place(s)", len(diff.Mismatches))}
			}
			return nil
		},
	}
	kf.register(cmd.Flags())
	cmd.Flags().StringVar(&dsn, "clickhouse-dsn", defaultDSN, "ClickHouse native DSN (the password in it is never printed)")
	cmd.Flags().StringVar(&database, "database", clickhouse.DefaultDatabase, "database holding the streamlab tables")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "overall time limit")
	return cmd
}
