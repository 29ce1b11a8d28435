package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// ReadLatestAggregates reads every partition of the aggregate topic from its
// first offset to its end as of the call and returns, for each window and
// source partition, the record with the highest revision, ordered by window
// start and partition. It keeps the highest revision rather than the last
// offset because anyone may re-produce old records (the duplicate-delivery
// drill does), and compaction then keeps the newest offset, not the newest
// revision. Values that are not aggregate records are skipped with a
// warning, as ClickHouse skips them into ingest_rejects; empty values
// (tombstones) are ignored.
func ReadLatestAggregates(ctx context.Context, brokers []string, topic string) ([]aggregate.Record, error) {
	latest := map[string]aggregate.Record{}
	skipped := 0
	err := kafkaio.ReadToEnd(ctx, brokers, topic, func(m kafka.Message) error {
		if len(m.Value) == 0 {
			return nil
		}
		r, err := aggregate.Unmarshal(m.Value)
		if err != nil {
			skipped++
			slog.Warn("skipping a value that is not an aggregate record", "topic", topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			return nil
		}
		if cur, ok := latest[r.Key()]; !ok || r.Revision > cur.Revision {
			latest[r.Key()] = *r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read latest aggregates from %s: %w", topic, err)
	}
	if skipped > 0 {
		slog.Warn("aggregate topic holds values that are not aggregate records", "topic", topic, "skipped", skipped)
	}
	out := make([]aggregate.Record, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b aggregate.Record) int {
		return cmp.Or(cmp.Compare(a.WindowStart, b.WindowStart), cmp.Compare(a.SourcePartition, b.SourcePartition))
	})
	return out, nil
}
