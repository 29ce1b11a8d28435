// Package topic is the pipeline's topic layout: the names (configurable per
// deployment), the settings `streamlab topics create` gives each topic, and
// which differences of an existing topic from them the pipeline cannot live
// with (Spec.Compare), and what each carries between which roles (Edges).
// docs/architecture.md's topic table is checked against both
// (TestArchitectureTopicTable).
package topic

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// DLQHeadroomBytes is how much more than the raw topic's limit the DLQ
	// allows: a dead letter is the raw record plus the processor's dlq.*
	// headers (reason, error text, source coordinates, times).
	DLQHeadroomBytes = 64 << 10
)

// Topic settings Spec.Compare knows how to compare.
const (
	CleanupPolicy   = "cleanup.policy"
	MaxMessageBytes = "max.message.bytes" // a minimum: a larger limit is fine
	RetentionMs     = "retention.ms"
)

// Spec describes one topic to create.
type Spec struct {
	Name       string
	Partitions int
	Configs    map[string]string
	// Must lists the Configs keys the pipeline cannot work without: an
	// existing topic that differs in one of them is a problem, in any
	// other only a note (for example a retention chosen by the operator).
	Must []string
	// Holds names the topic whose records this one must be able to hold,
	// with context headers: the DLQ holds the raw topic's, so its
	// max.message.bytes is at least DLQMessageBytes(the raw topic's).
	Holds string
}

// DLQMessageBytes is the max.message.bytes the DLQ topic needs next to a
// raw topic that accepts records up to rawLimit bytes: every record the raw
// topic accepted must fit in the DLQ with its context headers.
func DLQMessageBytes(rawLimit int) int {
	return max(MaxDLQMessageBytes, rawLimit+DLQHeadroomBytes)
}

// Difference is a setting of an existing topic that is not its spec's.
type Difference struct {
	Topic, Setting, Have, Want string
	// Breaks says the pipeline cannot work with the topic as it is; Why
	// says what goes wrong.
	Breaks bool
	Why    string
}

func (d Difference) String() string {
	s := fmt.Sprintf("%s=%s (want %s)", d.Setting, d.Have, d.Want)
	if d.Why != "" {
		s += ": " + d.Why
	}
	return s
}

// Compare returns how an existing topic with the given partition count and
// configs (as the broker describes them) differs from the spec.
func (s Spec) Compare(partitions int, configs map[string]string) []Difference {
	var out []Difference
	if partitions != s.Partitions {
		out = append(out, Difference{Topic: s.Name, Setting: "partitions", Have: strconv.Itoa(partitions), Want: strconv.Itoa(s.Partitions),
			Breaks: true, Why: "partition p of the DLQ, aggregate and state topics belongs to raw partition p; Kafka only adds partitions, so delete the topic or create the layout with its count"})
	}
	keys := make([]string, 0, len(s.Configs))
	for k := range s.Configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		want, have := s.Configs[k], configs[k]
		if SameSetting(k, have, want) {
			continue
		}
		d := Difference{Topic: s.Name, Setting: k, Have: have, Want: want, Breaks: slices.Contains(s.Must, k)}
		if k == MaxMessageBytes {
			d.Want = "at least " + want
		}
		if d.Breaks {
			d.Why = why(k)
		}
		out = append(out, d)
	}
	return out
}

// SameSetting compares a described value with the spec's: a cleanup policy
// as a set, a message size limit as a minimum, anything else as text.
func SameSetting(key, have, want string) bool {
	switch key {
	case CleanupPolicy:
		h, w := strings.Split(have, ","), strings.Split(want, ",")
		slices.Sort(h)
		slices.Sort(w)
		return slices.Equal(h, w)
	case MaxMessageBytes:
		h, err1 := strconv.Atoi(have)
		w, err2 := strconv.Atoi(want)
		return err1 == nil && err2 == nil && h >= w
	}
	return have == want
}

func why(key string) string {
	switch key {
	case CleanupPolicy:
		return "compaction keeps only the newest record per key, deletion removes old ones: the wrong one loses records this topic must keep"
	case MaxMessageBytes:
		return "records the pipeline must write to it would be rejected"
	}
	return "the pipeline depends on it"
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
// clickhouse.ReadLatestAggregates). A compacted aggregate topic is a note,
// not a PROBLEM: the running pipeline works with it, only a rebuild from
// it can be wrong; `topics create --update-configs` sets delete.
func Specs(n Names, partitions int, retention time.Duration) []Spec {
	ret := fmt.Sprint(retention.Milliseconds())
	return []Spec{
		// Raw and DLQ records are keyed by user: compaction would delete events.
		{Name: n.Raw, Partitions: partitions, Configs: map[string]string{CleanupPolicy: "delete", RetentionMs: ret},
			Must: []string{CleanupPolicy}},
		{Name: n.DLQ, Partitions: partitions, Configs: map[string]string{CleanupPolicy: "delete", RetentionMs: ret, MaxMessageBytes: fmt.Sprint(MaxDLQMessageBytes)},
			Must: []string{CleanupPolicy, MaxMessageBytes}, Holds: n.Raw},
		{Name: n.Agg, Partitions: partitions, Configs: map[string]string{CleanupPolicy: "delete", RetentionMs: ret}},
		{Name: n.Alerts, Partitions: 1, Configs: map[string]string{RetentionMs: ret}},
		{Name: n.Replays, Partitions: 1, Configs: map[string]string{CleanupPolicy: "compact"}, Must: []string{CleanupPolicy}},
		{Name: n.State, Partitions: partitions, Configs: map[string]string{CleanupPolicy: "compact", MaxMessageBytes: fmt.Sprint(MaxStateMessageBytes), "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"},
			Must: []string{CleanupPolicy, MaxMessageBytes}},
	}
}
