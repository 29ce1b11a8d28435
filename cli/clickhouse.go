package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamlab/streamlab/clickhouse"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

const defaultDSN = "clickhouse://default:@localhost:9000/default"

func newClickHouseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "clickhouse", Short: "Apply the ClickHouse schema and verify ClickHouse against Kafka"}
	var kf kafkaFlags
	var cf connectFlags
	var dsn, database, group string
	var flush, timeout time.Duration
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Apply the ClickHouse schema (Kafka engine tables, materialized views, dashboard views); idempotent",
		Long: `Apply creates the streamlab database: Kafka engine tables reading the aggregate,
dead-letter and alert topics, materialized views into ReplacingMergeTree tables,
and the views the dashboards query. It is idempotent and records each schema file
in schema_migrations; an edited, already-applied file is refused. --brokers is the
Kafka address as the ClickHouse server reaches it (kafka:9092 inside compose).
It waits up to --connect-timeout for ClickHouse to accept connections (compose
starts it in parallel); a wrong password or DSN stops it at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, policy, err := kafkaConnection(&kf, &cf)
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return usagef("%s %s: must be positive", flagRef("timeout"), timeout)
			}
			p := clickhouse.DefaultParams()
			p.Database, p.Brokers, p.ConsumerGroup, p.FlushInterval = database, brokers, group, flush
			p.AggTopic, p.DLQTopic, p.AlertsTopic = kf.topics.Agg, kf.topics.DLQ, kf.topics.Alerts
			db, err := openClickHouse(cmd.Context(), dsn, policy)
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
	hide(apply.Flags(), "raw-topic", "state-topic", "replays-topic")
	apply.Flags().StringVar(&dsn, "clickhouse-dsn", defaultDSN, "ClickHouse native DSN (the password in it is never printed)")
	apply.Flags().StringVar(&database, "database", clickhouse.DefaultDatabase, "database for the tables and views")
	apply.Flags().StringVar(&group, "consumer-group", clickhouse.DefaultParams().ConsumerGroup, "prefix of the Kafka engine consumer groups")
	apply.Flags().DurationVar(&flush, "flush-interval", clickhouse.DefaultParams().FlushInterval, "kafka_flush_interval_ms of the Kafka engine tables")
	cf.register(apply.Flags(), "ClickHouse")
	apply.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "time limit of applying the schema, once connected")
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

// openClickHouse connects and pings, retrying while the server is not
// reachable yet (the compose setup job may run before ClickHouse accepts
// queries). kafkaio.Transient's network part classifies any TCP client's
// errors: a refused or reset connection or a timeout is retried; an answer
// from the server (wrong password, unknown database) is not.
func openClickHouse(ctx context.Context, dsn string, p retry.Policy) (*clickhouse.Native, error) {
	db, err := clickhouse.OpenNative(dsn)
	if err != nil {
		return nil, usagef("%s: %w", flagRef("clickhouse-dsn"), err)
	}
	_, err = retry.Do(ctx, p, slog.Default(), "connect to ClickHouse", kafkaio.Transient, func(ctx context.Context) (struct{}, error) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return struct{}{}, db.Ping(pctx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", clickhouse.Redact(dsn), err)
	}
	return db, nil
}

// readAggregates waits for the aggregate topic and reads it whole, again
// from the start if a transient error cuts the read.
func readAggregates(ctx context.Context, brokers []string, topic string, p retry.Policy) ([]aggregate.Record, error) {
	if _, err := kafkaio.AwaitTopic(ctx, brokers, topic, p, slog.Default()); err != nil {
		return nil, err
	}
	return retry.Do(ctx, p, slog.Default(), "read "+topic, kafkaio.Transient, func(ctx context.Context) ([]aggregate.Record, error) {
		return clickhouse.ReadLatestAggregates(ctx, brokers, topic)
	})
}

func newVerifyCmd() *cobra.Command {
	var kf kafkaFlags
	var cf connectFlags
	var dsn, database string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Reconcile ClickHouse's per-window totals with the latest aggregates on Kafka (exit 1 on a mismatch)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			brokers, policy, err := kafkaConnection(&kf, &cf)
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return usagef("%s %s: must be positive", flagRef("timeout"), timeout)
			}
			db, err := openClickHouse(cmd.Context(), dsn, policy)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			recs, err := readAggregates(ctx, brokers, kf.topics.Agg, policy)
			if err != nil {
				return kf.explain(err)
			}
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
	cf.register(cmd.Flags(), "Kafka or ClickHouse")
	hide(cmd.Flags(), "raw-topic", "dlq-topic", "alerts-topic", "state-topic", "replays-topic")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "time limit of reading Kafka and comparing, once ClickHouse answers")
	return cmd
}
