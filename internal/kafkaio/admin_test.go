package kafkaio_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/topic"
)

func fakeCluster(t *testing.T) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

func ensure(t *testing.T, brokers []string, specs []topic.Spec, update bool) ([]kafkaio.TopicState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kafkaio.EnsureTopics(ctx, brokers, specs, kafkaio.EnsureOptions{UpdateConfigs: update})
}

func TestEnsureTopicsCreatesThenFindsThem(t *testing.T) {
	_, brokers := fakeCluster(t)
	specs := topic.Specs(topic.Defaults(), 3, time.Hour)
	for round, wantCreated := range []bool{true, false} {
		states, err := ensure(t, brokers, specs, false)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(states) != len(specs) {
			t.Fatalf("round %d: %d states", round, len(states))
		}
		for i, st := range states {
			if st.Name != specs[i].Name || st.Created != wantCreated || st.Partitions != specs[i].Partitions || len(st.Differences) != 0 || len(st.Updated) != 0 {
				t.Errorf("round %d: %+v, want created=%v partitions=%d and no differences", round, st, wantCreated, specs[i].Partitions)
			}
		}
	}
}

func TestEnsureTopicsReportsOtherSettings(t *testing.T) {
	c, brokers := fakeCluster(t)
	n := topic.Defaults()
	// An operator's layout: a raw topic that takes 6 MB records, a DLQ
	// that does not, a compacted aggregate topic (the layout before it
	// became delete only), a longer retention on alerts.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CreateTopic(n.Raw, 3, map[string]string{"max.message.bytes": "6000000"}))
	must(c.CreateTopic(n.DLQ, 3, map[string]string{"max.message.bytes": "1048588"}))
	must(c.CreateTopic(n.Agg, 3, map[string]string{"cleanup.policy": "compact,delete"}))
	specs := topic.Specs(n, 3, time.Hour)

	states, err := ensure(t, brokers, specs, false)
	if err == nil || !strings.Contains(err.Error(), "topic "+n.DLQ+": max.message.bytes=1048588 (want at least "+strconv.Itoa(6000000+topic.DLQHeadroomBytes)+")") {
		t.Fatalf("a DLQ smaller than the raw topic's records must be an error naming both limits, got %v", err)
	}
	byName := map[string]kafkaio.TopicState{}
	for _, st := range states {
		byName[st.Name] = st
	}
	if st := byName[n.Agg]; st.Created || st.Breaks() || len(st.Differences) == 0 || !strings.Contains(diffs(st), "cleanup.policy=compact,delete (want delete)") {
		t.Errorf("agg: %+v: want its cleanup policy reported, not fatal", st)
	}
	if st := byName[n.Raw]; !strings.Contains(diffs(st), "retention.ms=604800000 (want 3600000)") || st.Breaks() {
		t.Errorf("raw: %+v: want its retention reported, not fatal", st)
	}
	if st := byName[n.State]; !st.Created || len(st.Differences) != 0 {
		t.Errorf("state: %+v: want created as specified", st)
	}

	// --update-configs: the spec's settings are set on existing topics.
	states, err = ensure(t, brokers, specs, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if len(st.Differences) != 0 {
			t.Errorf("after update: %s still differs: %s", st.Name, diffs(st))
		}
	}
	cfgs, err := kafkaio.TopicConfigs(context.Background(), brokers, n.DLQ, n.Agg)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfgs[n.DLQ]["max.message.bytes"]; got != strconv.Itoa(6000000+topic.DLQHeadroomBytes) {
		t.Errorf("DLQ limit after update: %s", got)
	}
	if got := cfgs[n.Agg]["cleanup.policy"]; got != "delete" {
		t.Errorf("agg cleanup policy after update: %s", got)
	}
}

// TestEnsureTopicsGivesANewDLQRoomForTheRawTopic: a DLQ created next to a
// raw topic that takes bigger records than topic.MaxDLQMessageBytes gets
// room for them at once, without --update-configs.
func TestEnsureTopicsGivesANewDLQRoomForTheRawTopic(t *testing.T) {
	c, brokers := fakeCluster(t)
	n := topic.Defaults()
	if err := c.CreateTopic(n.Raw, 3, map[string]string{"max.message.bytes": "8000000"}); err != nil {
		t.Fatal(err)
	}
	states, err := ensure(t, brokers, topic.Specs(n, 3, 7*24*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Name == n.DLQ && (!st.Created || st.Breaks()) {
			t.Errorf("DLQ: %+v", st)
		}
	}
	cfgs, err := kafkaio.TopicConfigs(context.Background(), brokers, n.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfgs[n.DLQ]["max.message.bytes"]; got != strconv.Itoa(8000000+topic.DLQHeadroomBytes) {
		t.Errorf("new DLQ limit %s, want the raw limit plus headroom", got)
	}
}

func TestEnsureTopicsPartitionMismatchIsAnError(t *testing.T) {
	c, brokers := fakeCluster(t)
	n := topic.Defaults()
	if err := c.CreateTopic(n.State, 2, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	states, err := ensure(t, brokers, topic.Specs(n, 3, time.Hour), true)
	if err == nil || !strings.Contains(err.Error(), "topic "+n.State+": partitions=2 (want 3)") {
		t.Fatalf("err = %v", err)
	}
	for _, st := range states {
		if st.Name == n.State && st.Partitions != 2 {
			t.Errorf("state topic reported with %d partitions; the broker has 2", st.Partitions)
		}
	}
}

func TestUnreachableBrokerGivesUpAfterTheTimeout(t *testing.T) {
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}
	_, err := kafkaio.EnsureTopics(context.Background(), []string{"127.0.0.1:1"}, topic.Specs(topic.Defaults(), 3, time.Hour), kafkaio.EnsureOptions{Retry: p})
	if !errors.Is(err, retry.ErrGaveUp) || !strings.Contains(err.Error(), "Kafka at 127.0.0.1:1") {
		t.Fatalf("err = %v", err)
	}
	_, err = kafkaio.AwaitTopic(context.Background(), []string{"127.0.0.1:1"}, "raw", p, nil)
	if !errors.Is(err, retry.ErrGaveUp) {
		t.Fatalf("AwaitTopic: %v", err)
	}
}

func TestAwaitTopic(t *testing.T) {
	t.Parallel()
	c, brokers := fakeCluster(t)
	if err := c.CreateTopic("raw", 4, nil); err != nil {
		t.Fatal(err)
	}
	n, err := kafkaio.AwaitTopic(context.Background(), brokers, "raw", retry.DefaultPolicy(), nil)
	if err != nil || n != 4 {
		t.Fatalf("AwaitTopic = %d, %v", n, err)
	}
	_, err = kafkaio.AwaitTopic(context.Background(), brokers, "missing", retry.DefaultPolicy(), nil)
	if !errors.Is(err, kafkaio.ErrNoTopic) || errors.Is(err, retry.ErrGaveUp) {
		t.Fatalf("a missing topic must be permanent, got %v", err)
	}
}

func diffs(st kafkaio.TopicState) string {
	var s []string
	for _, d := range st.Differences {
		s = append(s, d.String())
	}
	return strings.Join(s, "; ")
}
