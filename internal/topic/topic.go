// Package topic is the pipeline's topic layout: the names (configurable per
// deployment), what each topic carries and who writes and reads it, and the
// settings `streamlab topics create` gives it. docs/architecture.md's topic
// table is checked against Specs (TestArchitectureTopicTable).
package topic

import (
	"fmt"
	"time"
)

// Names are the topic names of one deployment.
type Names struct {
	Raw    string // raw events, keyed by user_id; default "events.raw.v1"
	DLQ    string // dead letters; default "events.dlq.v1"
	Agg    string // window aggregates; default "agg.window.v1"
	Alerts string // dispatcher alerts; default "alerts.v1"
	// State holds the processor's checkpoints; default
	// "streamlab.processor.state.v1".
	State string
	// Replays is the replay ledger: which dead letters were replayed;
	// default "events.dlq.replays.v1".
	Replays string
}

// Defaults are the contract's names (docs/contract.md) plus the two
// internal topics.
func Defaults() Names {
	return Names{Raw: "events.raw.v1", DLQ: "events.dlq.v1", Agg: "agg.window.v1", Alerts: "alerts.v1",
		State: "streamlab.processor.state.v1", Replays: "events.dlq.replays.v1"}
}

// Record size limits. A broker rejects a record batch larger than the
// topic's max.message.bytes (1 MiB by default), so writers keep batches
// under it. The DLQ must accept every raw message plus its context headers,
// so its topic allows MaxDLQMessageBytes: any record the raw topic accepted
// with the broker's default limit fits in the DLQ.
const (
	MaxDLQMessageBytes   = 4 << 20
	MaxStateMessageBytes = 64 << 20
)

// Spec describes one topic to create.
type Spec struct {
	Name       string
	Partitions int
	Configs    map[string]string
}

// Specs returns the topic layout: the raw, DLQ and aggregate topics with the
// given partition count; the state and ledger topics compacted (only the
// latest checkpoint of a partition, the latest mark of a dead letter
// matter); the state topic with exactly as many partitions as the raw topic
// because partition p's checkpoint lives in state partition p.
//
// The aggregate topic is deliberately not compacted. Its key is
// window/partition and its records are revisions: compaction keeps the
// last offset of a key, not its highest revision, so after anyone
// re-produces old records (a restore, the duplicate-delivery drill) the
// cleaner could delete revision 3 and keep the re-produced revision 1, and
// ClickHouse rebuilt from the topic, or `clickhouse verify`, would show the
// old numbers. With delete alone every revision stays until retention, and
// readers keep the highest one (ClickHouse's ReplacingMergeTree,
// clickhouse.ReadLatestAggregates).
func Specs(n Names, partitions int, retention time.Duration) []Spec {
	ret := fmt.Sprint(retention.Milliseconds())
	return []Spec{
		{Name: n.Raw, Partitions: partitions, Configs: map[string]string{"retention.ms": ret}},
		{Name: n.DLQ, Partitions: partitions, Configs: map[string]string{"retention.ms": ret, "max.message.bytes": fmt.Sprint(MaxDLQMessageBytes)}},
		{Name: n.Agg, Partitions: partitions, Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": ret}},
		{Name: n.Alerts, Partitions: 1, Configs: map[string]string{"retention.ms": ret}},
		{Name: n.Replays, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: n.State, Partitions: partitions, Configs: map[string]string{"cleanup.policy": "compact", "max.message.bytes": fmt.Sprint(MaxStateMessageBytes), "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}},
	}
}
