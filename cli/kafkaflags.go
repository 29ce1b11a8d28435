package cli

import (
	"github.com/spf13/pflag"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

// kafkaFlags are the broker and topic settings shared by the Kafka roles.
type kafkaFlags struct {
	brokers string
	topics  topic.Names
}

func (k *kafkaFlags) register(fs *pflag.FlagSet) {
	d := topic.Defaults()
	fs.StringVar(&k.brokers, "brokers", "localhost:9092", "Kafka bootstrap brokers, host:port[,host:port]")
	fs.StringVar(&k.topics.Raw, "raw-topic", d.Raw, "raw events topic")
	fs.StringVar(&k.topics.DLQ, "dlq-topic", d.DLQ, "dead-letter topic")
	fs.StringVar(&k.topics.Agg, "agg-topic", d.Agg, "window aggregates topic")
	fs.StringVar(&k.topics.Alerts, "alerts-topic", d.Alerts, "alerts topic")
	fs.StringVar(&k.topics.Replays, "replays-topic", d.Replays, "dead-letter replay ledger topic (compacted)")
	fs.StringVar(&k.topics.State, "state-topic", d.State, "processor checkpoint topic (compacted)")
}

func (k *kafkaFlags) brokerList() ([]string, error) { return kafkaio.ParseBrokers(k.brokers) }
