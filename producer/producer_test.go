package producer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/producer"
)

func cluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, "raw")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// liveGen is the generator as a live producer runs it: the event clock
// starts now, so the topic's default 7-day retention keeps the records.
func liveGen() gen.Config {
	cfg := gen.DefaultConfig()
	cfg.Start = time.Now().UTC().Truncate(time.Millisecond)
	return cfg
}

// logBuffer is a slog sink that tests can read while a run writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// values reads the topic and returns every record value, sorted.
func values(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	var out []string
	if err := kafkaio.ReadToEnd(context.Background(), brokers, topic, func(m kafka.Message) error {
		out = append(out, string(m.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// generated is what the generator gives for cfg, sorted like values.
func generated(cfg gen.Config, n int) []string {
	g, _ := gen.New(cfg)
	out := make([]string, n)
	for i := range out {
		out[i] = string(g.Next().Value)
	}
	slices.Sort(out)
	return out
}

// TestProducerKeysByUserAndStampsTheEventClock: every message is keyed by
// its user_id and timestamped with the generator's clock, the counts by
// kind add up, and a healthy run logs no warning.
func TestProducerKeysByUserAndStampsTheEventClock(t *testing.T) {
	t.Parallel()
	_, brokers := cluster(t)
	cfg := liveGen()
	var logs logBuffer
	st, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: "raw", Gen: cfg, Count: 3000, Logger: logs.logger()})
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
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a healthy run warned:\n%s", logs.String())
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
	t.Parallel()
	_, brokers := cluster(t)
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Timeout: time.Minute}
	_, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: "missing", Gen: liveGen(), Count: 1, Retry: p})
	if !errors.Is(err, kafkaio.ErrNoTopic) || errors.Is(err, retry.ErrGaveUp) || !strings.Contains(err.Error(), "topics create") {
		t.Fatalf("a missing topic must stop the run at once, naming the fix; got %v", err)
	}
}

// TestProducerRefusesATopicThatWouldDeleteItsRecords: the records carry the
// event clock, so an event clock months back on a topic with the default
// 7-day retention would be deleted by the broker's next retention pass; the
// producer refuses and writes nothing. The premise is checked too: the same
// records written directly are gone after a retention pass.
func TestProducerRefusesATopicThatWouldDeleteItsRecords(t *testing.T) {
	t.Parallel()
	c, brokers := cluster(t)
	cfg := gen.DefaultConfig()
	cfg.Start = time.Now().Add(-90 * 24 * time.Hour).UTC().Truncate(time.Millisecond)
	st, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: "raw", Gen: cfg, Count: 500})
	var re *producer.RetentionError
	if !errors.As(err, &re) || st != nil {
		t.Fatalf("Run = %+v, %v; want a RetentionError", st, err)
	}
	if re.Retention != 7*24*time.Hour || re.Age < 90*24*time.Hour || re.Enough() < re.Age+re.Retention || re.Enough()%(24*time.Hour) != 0 {
		t.Errorf("RetentionError %+v, Enough %s", re, re.Enough())
	}
	if got := values(t, brokers, "raw"); len(got) != 0 {
		t.Fatalf("refused, but %d records were written", len(got))
	}

	// The premise: such records do not survive a retention pass.
	w := kafkaio.NewWriter(brokers, "raw")
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("u"), Value: []byte("old"), Time: cfg.Start}); err != nil {
		t.Fatal(err)
	}
	c.ApplyRetention()
	if got := values(t, brokers, "raw"); len(got) != 0 {
		t.Fatalf("a record stamped %s survived the retention pass: the check guards nothing", cfg.Start)
	}
}

func TestProducerRetentionCheckPassesOrWarns(t *testing.T) {
	t.Parallel()
	c, brokers := cluster(t)
	if err := c.CreateTopic("stamped", 3, map[string]string{"message.timestamp.type": "LogAppendTime"}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic("forever", 3, map[string]string{"retention.ms": "-1"}); err != nil {
		t.Fatal(err)
	}
	old := gen.DefaultConfig()
	old.Start = time.Now().Add(-90 * 24 * time.Hour).UTC()
	fourDays := gen.DefaultConfig()
	fourDays.Start = time.Now().Add(-4 * 24 * time.Hour).UTC()
	for _, tc := range []struct {
		topic string
		gen   gen.Config
		warn  bool
	}{
		{"stamped", old, false}, // the broker stamps the records: the event clock does not matter
		{"forever", old, false}, // no time limit
		{"raw", fourDays, true}, // kept, but for 3 of its 7 days only
		{"raw", liveGen(), false},
	} {
		var logs logBuffer
		st, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: tc.topic, Gen: tc.gen, Count: 10, Logger: logs.logger()})
		if err != nil || st.Total != 10 {
			t.Errorf("%s from %s: %v, %+v", tc.topic, tc.gen.Start, err, st)
		}
		if warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), `deleted_in="2 days 23h"`); warned != tc.warn {
			t.Errorf("%s from %s: warned=%v, want %v:\n%s", tc.topic, tc.gen.Start, warned, tc.warn, logs.String())
		}
	}
}

// TestProducerHealsWriteErrors: a partition whose leader is "moving" for a
// while (Not Leader For Partition on every produce request) is retried past
// kafka-go's own attempts; only what failed is re-sent, so the topic holds
// exactly the generated records, and the outage is logged once when it
// starts and once when it heals.
func TestProducerHealsWriteErrors(t *testing.T) {
	t.Parallel()
	c, brokers := cluster(t)
	failures := 0
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.ProduceRequest)
		if failures >= 12 {
			return nil, nil, false
		}
		c.KeepControl()
		// Fail only partition 1: the records for 0 and 2 are written at once.
		if !slices.ContainsFunc(req.Topics, func(t kmsg.ProduceRequestTopic) bool {
			return slices.ContainsFunc(t.Partitions, func(p kmsg.ProduceRequestTopicPartition) bool { return p.Partition == 1 })
		}) {
			return nil, nil, false
		}
		failures++
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	cfg := liveGen()
	var logs logBuffer
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Timeout: time.Minute}
	st, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: "raw", Gen: cfg, Count: 2000, Retry: p, Logger: logs.logger()})
	if err != nil || st.Total != 2000 {
		t.Fatalf("Run = %+v, %v\n%s", st, err, logs.String())
	}
	if failures < 12 {
		t.Fatalf("only %d produce requests failed: the test did not outlast kafka-go's own retries", failures)
	}
	if got, want := values(t, brokers, "raw"), generated(cfg, 2000); !slices.Equal(got, want) {
		t.Fatalf("the topic holds %d records, not exactly the %d generated ones", len(got), len(want))
	}
	out := logs.String()
	if w, r := strings.Count(out, "not available yet; retrying"), strings.Count(out, "recovered"); w != 1 || r != 1 {
		t.Errorf("want one line when the outage starts and one when it heals, got %d and %d:\n%s", w, r, out)
	}
}

// TestProducerWaitsForTheBroker: a producer started before its broker
// waits (one log line), then writes everything once the broker is up.
func TestProducerWaitsForTheBroker(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var logs logBuffer
	type result struct {
		st  *producer.Stats
		err error
	}
	done := make(chan result, 1)
	cfg := liveGen()
	p := retry.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Timeout: time.Minute}
	go func() {
		st, err := producer.Run(context.Background(), producer.Config{Brokers: []string{addr}, Topic: "raw", Gen: cfg, Count: 1000, Retry: p, Logger: logs.logger()})
		done <- result{st, err}
	}()
	for !strings.Contains(logs.String(), "not available yet; retrying") {
		select {
		case r := <-done:
			t.Fatalf("the producer did not wait for the broker: %+v, %v", r.st, r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(3, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := <-done
	if r.err != nil || r.st.Total != 1000 {
		t.Fatalf("Run = %+v, %v\n%s", r.st, r.err, logs.String())
	}
	if got := values(t, c.ListenAddrs(), "raw"); len(got) != 1000 {
		t.Fatalf("%d records on the topic", len(got))
	}
	if n := strings.Count(logs.String(), "not available yet; retrying"); n != 1 {
		t.Errorf("%d 'not available' lines for one outage:\n%s", n, logs.String())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := producer.Config{Brokers: []string{"localhost:9092"}, Topic: "raw", Gen: gen.DefaultConfig()}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for field, mutate := range map[string]func(*producer.Config){
		"Brokers":  func(c *producer.Config) { c.Brokers = nil },
		"Topic":    func(c *producer.Config) { c.Topic = "" },
		"Rate":     func(c *producer.Config) { c.Rate = -1 },
		"Count":    func(c *producer.Config) { c.Count = -1 },
		"Duration": func(c *producer.Config) { c.Duration = -time.Second },
		"Progress": func(c *producer.Config) { c.Progress = -time.Second },
		"Retry":    func(c *producer.Config) { c.Retry = retry.Policy{Initial: -1} },
	} {
		c := ok
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), field+" ") && !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("%s: Validate = %v; want an error that starts with the field name", field, err)
		}
		if err != nil && strings.Contains(err.Error(), "--") {
			t.Errorf("%s: %v names a flag; the cli maps fields to flags", field, err)
		}
	}
}

// Validate names the fields to fix, all at once; the command line maps
// them to its flags.
func ExampleConfig_Validate() {
	cfg := producer.Config{Brokers: []string{"localhost:9092"}, Topic: "events.raw.v1", Gen: gen.DefaultConfig(), Rate: -5, Count: -1}
	fmt.Println(cfg.Validate())
	// Output:
	// Rate must be a finite number of messages per second, at least 0; got -5
	// Count must not be negative, got -1
}

// A run whose event clock starts further back than the topic keeps records
// is refused: the broker would delete the records within minutes.
func ExampleRetentionError() {
	err := &producer.RetentionError{Topic: "events.raw.v1", Start: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC),
		Age: 91 * 24 * time.Hour, Retention: 7 * 24 * time.Hour}
	fmt.Println(err)
	fmt.Println("enough:", err.Enough())
	// Output:
	// the event clock starts at 2026-09-01T00:00:00Z, 91 days ago, but topic events.raw.v1 deletes records older than 7 days (retention.ms=604800000): the broker would delete what this run writes within minutes
	// enough: 2352h0m0s
}
