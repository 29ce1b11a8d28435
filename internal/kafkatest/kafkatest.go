// Package kafkatest starts an in-process Kafka (franz-go's kfake) with the
// pipeline's topics, for fast tests. Kafka claims are also proven on a real
// Apache Kafka broker by the e2e suite; this is never the only proof.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/topic"
)

// Start runs a one-broker cluster on loopback for the test's lifetime and
// creates the default topics with the given partition count. The topics
// keep records for ten years: tests produce logs whose event clock (the
// record timestamps) starts at gen.DefaultStart, and the producer refuses
// a topic that would delete them.
func Start(t testing.TB, partitions int) ([]string, topic.Names) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	topics := topic.Defaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kafkaio.CreateTopics(ctx, brokers, topic.Specs(topics, partitions, 87600*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return brokers, topics
}
