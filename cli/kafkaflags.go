package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
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

// hide keeps flags that a command accepts but does not use out of its
// --help, which should list only settings that change what the command
// does. They still parse: scripts and tests hand one topic set and one
// window set to every role.
func hide(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if err := fs.MarkHidden(n); err != nil {
			panic(err) // a flag name that was never registered
		}
	}
}

// Flags the event generator does not read (gen, producer, chaos).
var unusedByGenerator = []string{"replay-retention", "coalesce-offsets"}

// topicArgs repeats the topic flags whose value is not the default, so that
// a command suggested in a fix acts on the same topics as this one.
func (k *kafkaFlags) topicArgs() string {
	d := topic.Defaults()
	var out string
	for _, t := range []struct{ flag, v, def string }{
		{"raw-topic", k.topics.Raw, d.Raw}, {"dlq-topic", k.topics.DLQ, d.DLQ}, {"agg-topic", k.topics.Agg, d.Agg},
		{"alerts-topic", k.topics.Alerts, d.Alerts}, {"replays-topic", k.topics.Replays, d.Replays},
		{"state-topic", k.topics.State, d.State},
	} {
		if t.v != t.def {
			out += " --" + t.flag + " " + t.v
		}
	}
	return out
}

// brokerList parses --brokers; a bad list is a usage error.
func (k *kafkaFlags) brokerList() ([]string, error) {
	b, err := kafkaio.ParseBrokers(k.brokers)
	return b, usageErr(err)
}

// explain adds what to do when Kafka never answered within the connect
// timeout; other errors are returned as they are.
func (k *kafkaFlags) explain(err error) error {
	if !errors.Is(err, retry.ErrGaveUp) {
		return err
	}
	return fmt.Errorf("%w\nfix: start Kafka, or point %s at it (now %q); %s waits longer", err, flagRef("brokers"), k.brokers, flagRef("connect-timeout"))
}

// connectFlags bound the heal-or-stop policy (internal/retry) of a role:
// how long it keeps retrying transient errors at start, since compose
// starts every service at once and a broker takes a while to accept
// clients. Every role that talks to Kafka registers it, the same way.
type connectFlags struct {
	timeout time.Duration
}

// register adds --connect-timeout; server names what the role waits for
// ("Kafka", "ClickHouse", "Kafka or ClickHouse").
func (c *connectFlags) register(fs *pflag.FlagSet, server string) {
	why := map[string]string{
		"Kafka":               "broker down, no leader, coordinator loading",
		"ClickHouse":          "server not accepting connections yet",
		"Kafka or ClickHouse": "broker down, no leader, ClickHouse not accepting connections yet",
	}[server]
	fs.DurationVar(&c.timeout, "connect-timeout", retry.DefaultPolicy().Timeout,
		fmt.Sprintf("how long to keep retrying while %s is not reachable yet (%s); 0 = until stopped", server, why))
}

// kafkaConnection is what the roles that connect to Kafka under one retry
// policy read first: the broker list and the policy, either wrong being a
// usage error.
func kafkaConnection(k *kafkaFlags, c *connectFlags) ([]string, retry.Policy, error) {
	brokers, err := k.brokerList()
	if err != nil {
		return nil, retry.Policy{}, err
	}
	policy, err := c.policy()
	if err != nil {
		return nil, retry.Policy{}, err
	}
	return brokers, policy, nil
}

// policy is the retry policy for the role; a negative timeout is a usage
// error.
func (c *connectFlags) policy() (retry.Policy, error) {
	p := retry.DefaultPolicy()
	p.Timeout = c.timeout
	if c.timeout < 0 {
		return p, usagef("%s %s: must not be negative (0 waits until stopped)", flagRef("connect-timeout"), c.timeout)
	}
	return p, nil
}
