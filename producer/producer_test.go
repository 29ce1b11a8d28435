package producer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/producer"
)

func cluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// TestProducerKeysByUserAndStampsTheEventClock: every message is keyed by
// its user_id and timestamped with the generator's clock, and the counts by
// kind add up.
func TestProducerKeysByUserAndStampsTheEventClock(t *testing.T) {
	brokers := cluster(t)
	cfg := gen.DefaultConfig()
	st, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: "raw", Gen: cfg, Count: 3000})
	if err != nil {
		t.Fatal(err)
	}
	var byKind int64
	for _, n := range st.ByKind {
		byKind += n
	}
	if st.Total != 3000 || byKind != 3000 {
		t.Fatalf("stats %+v", st)
	}
	g, _ := gen.New(cfg)
	want := map[string][]gen.Message{} // a duplicate repeats a value
	for i := 0; i < 3000; i++ {
		m := g.Next()
		want[string(m.Value)] = append(want[string(m.Value)], m)
	}
	users := map[string]int{} // user -> partition
	n := 0
	if err := kafkaio.ReadToEnd(context.Background(), brokers, "raw", func(m kafka.Message) error {
		n++
		ws := want[string(m.Value)]
		if len(ws) == 0 {
			t.Fatalf("unexpected message %q", m.Value)
		}
		stamped := false
		for _, w := range ws {
			stamped = stamped || m.Time.Equal(w.ProducedAt.Truncate(time.Millisecond))
		}
		if string(m.Key) != string(ws[0].Key) || !stamped {
			t.Fatalf("key %q time %v, want %q and one of the generator's clocks", m.Key, m.Time, ws[0].Key)
		}
		if p, seen := users[string(m.Key)]; seen && p != m.Partition {
			t.Fatalf("user %s in partitions %d and %d", m.Key, p, m.Partition)
		}
		users[string(m.Key)] = m.Partition
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3000 {
		t.Fatalf("%d messages on the topic", n)
	}
}

func TestProducerNeedsItsTopic(t *testing.T) {
	brokers := cluster(t)
	_, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: "missing", Gen: gen.DefaultConfig(), Count: 1})
	if err == nil || !strings.Contains(err.Error(), "topics create") {
		t.Fatalf("Run = %v", err)
	}
}
