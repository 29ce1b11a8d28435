package topic

// Edge is one topic as the architecture draws it: an arrow from the roles
// that write it to the roles that read it, labelled with what its records
// are (after lovoo/goka's Edge{Topic, Codec}: a topic and how its records
// are encoded belong together). docs/architecture.md's topic table is this
// list (TestArchitectureTopicTable), so the documentation cannot drift from
// the code that names the topics.
type Edge struct {
	Topic string
	// Key is what a record's key holds.
	Key string
	// Codec names the Go code that writes and reads a record's value and
	// headers.
	Codec string
	// Writers and Readers are the roles (and outside systems) on either end.
	Writers, Readers string
}

// Edges are the pipeline's topics with the given names, in data-flow order.
func Edges(n Names) []Edge {
	return []Edge{
		{Topic: n.Raw, Key: "user_id", Codec: "internal/event (JSON, contract §4)",
			Writers: "producer, chaos, dlq replay", Readers: "processor, dispatcher (the processor group's lag)"},
		{Topic: n.DLQ, Key: "original key", Codec: "internal/deadletter (original bytes + dlq.* headers)",
			Writers: "processor", Readers: "dispatcher, ClickHouse, dlq commands"},
		{Topic: n.Agg, Key: "`window_start/source_partition`", Codec: "internal/aggregate (JSON, contract §7)",
			Writers: "processor", Readers: "dispatcher, ClickHouse, clickhouse verify"},
		{Topic: n.Alerts, Key: "`rule/incident_id`", Codec: "dispatcher/incident (JSON)",
			Writers: "dispatcher", Readers: "ClickHouse (Grafana annotations), dispatcher (state on restart)"},
		{Topic: n.State, Key: "`group\\|topic\\|partition\\|incarnation\\|c` (checkpoint) or `…\\|w<start>` (window)", Codec: "internal/checkpoint",
			Writers: "processor", Readers: "processor (restore), dlq replay (horizon)"},
		{Topic: n.Replays, Key: "DLQ `topic/partition/offset`", Codec: "dlq (the time of the replay)",
			Writers: "dlq replay", Readers: "dlq commands"},
	}
}
