package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/chaos"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
	"github.com/streamlab/streamlab/producer"
)

func startCluster(t *testing.T) ([]string, topic.Names) { return kafkatest.Start(t, 3) }

// liveTraffic writes clean events starting at the wall clock, like the
// producer of a running stack, so that every partition has a watermark near
// now when the burst arrives.
func liveTraffic(t *testing.T, brokers []string, topic string, n int64) {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Start = time.Now().UTC().Truncate(time.Millisecond)
	cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate, cfg.Malformed, cfg.Oversized, cfg.Future = 0, 0, 0, 0, 0, 0, 0
	if _, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: topic, Gen: cfg, Count: n}); err != nil {
		t.Fatal(err)
	}
}

// outcomes runs the processor's own decision code over every partition of
// the topic in log order and returns the outcome of each message written at
// or after the given end offsets, with its value.
func outcomes(t *testing.T, brokers []string, topic string, from map[int]int64) (out []pipeline.Outcome, values [][]byte) {
	t.Helper()
	cfg, lim := window.DefaultConfig(), event.DefaultLimits()
	for p := 0; p < 3; p++ {
		part, err := pipeline.NewPartition(cfg, lim, int32(p))
		if err != nil {
			t.Fatal(err)
		}
		err = kafkaio.ReadPartitionToEnd(context.Background(), brokers, topic, p, func(m kafka.Message) error {
			o := part.Process(&pipeline.Message{Topic: topic, Partition: int32(p), Offset: m.Offset, Key: m.Key, Value: m.Value,
				RefMs: m.Time.UnixMilli()}, func(*aggregate.View) {}, func(*deadletter.Letter) {})
			if m.Offset >= from[p] {
				out = append(out, o)
				values = append(values, m.Value)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out, values
}

func endOffsets(t *testing.T, brokers []string, topic string) map[int]int64 {
	t.Helper()
	ends := map[int]int64{}
	for p := 0; p < 3; p++ {
		_, last, err := kafkaio.Offsets(context.Background(), brokers, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		ends[p] = last
	}
	return ends
}

func TestBurstsMeetTheirOutcome(t *testing.T) {
	deadLetter := func(reasons ...event.Reason) func(pipeline.Outcome) bool {
		return func(o pipeline.Outcome) bool {
			for _, r := range reasons {
				if o == pipeline.Outcome(r) {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		kind  string
		count int64
		want  func(pipeline.Outcome) bool
	}{
		{chaos.Malformed, 300, deadLetter(event.InvalidJSON, event.UnsupportedSchema, event.SchemaViolation)},
		{chaos.Late, 200, deadLetter(event.LateEvent)},
		{chaos.Future, 200, deadLetter(event.FutureEvent)},
		// 60 messages of ~65 KiB: more than a broker takes in one request,
		// so this also proves the burst is split.
		{chaos.Oversized, 60, deadLetter(event.Oversized)},
		{chaos.Duplicate, 200, func(o pipeline.Outcome) bool { return o == pipeline.Duplicate }},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			brokers, topics := startCluster(t)
			liveTraffic(t, brokers, topics.Raw, 600)
			before := endOffsets(t, brokers, topics.Raw)
			w, l := window.DefaultConfig(), event.DefaultLimits()
			n, err := chaos.Run(context.Background(), chaos.Config{Brokers: brokers, Topic: topics.Raw, Kind: tc.kind,
				Count: tc.count, Seed: 7, Window: time.Duration(w.SizeMs) * time.Millisecond,
				OutOfOrderness:  time.Duration(w.OutOfOrdernessMs) * time.Millisecond,
				AllowedLateness: time.Duration(w.AllowedLatenessMs) * time.Millisecond, MaxEventBytes: l.MaxEventBytes})
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.count {
				t.Fatalf("Run wrote %d, want %d", n, tc.count)
			}
			got, values := outcomes(t, brokers, topics.Raw, before)
			if int64(len(got)) != tc.count {
				t.Fatalf("the topic holds %d new messages, want %d", len(got), tc.count)
			}
			counts := map[pipeline.Outcome]int{}
			for _, o := range got {
				counts[o]++
			}
			bad := 0
			for _, o := range got {
				if !tc.want(o) {
					bad++
				}
			}
			if tc.kind == chaos.Duplicate {
				// The original of the re-sends is counted once.
				if counts[pipeline.Counted] != 1 || bad != 1 {
					t.Fatalf("outcomes %v: want 1 counted original and %d duplicates", counts, tc.count-1)
				}
				for _, v := range values[1:] {
					if string(v) != string(values[0]) {
						t.Fatal("a duplicate is not a byte-for-byte re-send of the original")
					}
				}
				return
			}
			if bad != 0 {
				t.Fatalf("%d of %d %s messages met another outcome: %v", bad, len(got), tc.kind, counts)
			}
			if tc.kind == chaos.Malformed && len(counts) < 2 {
				t.Fatalf("malformed burst has a single kind of defect: %v", counts)
			}
		})
	}
}

func TestBurstIsDeterministicBySeed(t *testing.T) {
	brokers, topics := startCluster(t)
	run := func(seed uint64) []string {
		before := endOffsets(t, brokers, topics.Raw)
		if _, err := chaos.Run(context.Background(), chaos.Config{Brokers: brokers, Topic: topics.Raw, Kind: chaos.Malformed,
			Count: 100, Seed: seed, Window: time.Minute, OutOfOrderness: 5 * time.Second, AllowedLateness: 2 * time.Minute,
			MaxEventBytes: 65536}); err != nil {
			t.Fatal(err)
		}
		_, values := outcomes(t, brokers, topics.Raw, before)
		out := make([]string, len(values))
		for i, v := range values {
			out[i] = string(v)
		}
		return out
	}
	// Values hold the wall-clock event time, so two runs differ in those
	// digits; which defects are drawn, and so every value's length, depends
	// on the seed alone.
	shape := func(vs []string) string {
		var b strings.Builder
		for _, v := range vs {
			fmt.Fprintf(&b, "%d,", len(v))
		}
		return b.String()
	}
	a, b, c := run(3), run(3), run(4)
	if len(a) != 100 || len(b) != 100 || len(c) != 100 {
		t.Fatalf("got %d, %d, %d messages", len(a), len(b), len(c))
	}
	if shape(a) != shape(b) || shape(a) == shape(c) {
		t.Fatal("the burst is not selected by its seed")
	}
}

func TestBadConfig(t *testing.T) {
	ok := chaos.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Kind: chaos.Late, Count: 1,
		Window: time.Minute, OutOfOrderness: 5 * time.Second, AllowedLateness: 2 * time.Minute, MaxEventBytes: 65536}
	tests := []struct {
		mutate func(*chaos.Config)
		want   string
	}{
		{func(c *chaos.Config) { c.Kind = "gremlins" }, `Kind "gremlins": want one of malformed, late, duplicate, future, oversized`},
		{func(c *chaos.Config) { c.Count = 0 }, "Count must be at least 1, got 0"},
		{func(c *chaos.Config) { c.Brokers = nil }, "Brokers must name at least one broker"},
		{func(c *chaos.Config) { c.Topic = "" }, "Topic must be set"},
		{func(c *chaos.Config) { c.MaxEventBytes = 0 }, "MaxEventBytes must be positive"},
		{func(c *chaos.Config) { c.MaxEventBytes = 10 }, "MaxEventBytes must be in [1024,"}, // the generator's own bound
		{func(c *chaos.Config) { c.Window = 0 }, "Window must be positive"},
		{func(c *chaos.Config) { c.AllowedLateness = -time.Second }, "AllowedLateness must not be negative"},
	}
	for _, tc := range tests {
		cfg := ok
		tc.mutate(&cfg)
		// Every one of these must fail before any connection is tried: the
		// broker address is unreachable.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := chaos.Run(ctx, cfg)
		cancel()
		if err == nil || n != 0 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error mentioning %q, got %d, %v", tc.want, n, err)
		}
		if err != nil && strings.Contains(err.Error(), "--") {
			t.Errorf("%v names a flag; the cli maps fields to flags", err)
		}
	}
}

// TestMissingTopicStopsTheBurst: a missing raw topic is permanent, not a
// broker to wait for.
func TestMissingTopicStopsTheBurst(t *testing.T) {
	brokers, _ := startCluster(t)
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Timeout: time.Minute}
	n, err := chaos.Run(context.Background(), chaos.Config{Brokers: brokers, Topic: "missing", Kind: chaos.Late, Count: 5,
		Window: time.Minute, OutOfOrderness: 5 * time.Second, AllowedLateness: 2 * time.Minute, MaxEventBytes: 65536, Retry: p})
	if n != 0 || !errors.Is(err, kafkaio.ErrNoTopic) || errors.Is(err, retry.ErrGaveUp) {
		t.Fatalf("Run = %d, %v", n, err)
	}
}

// TestSkewedBurstLeavesOnTimeTrafficOnTime: a skewed burst is valid events
// from clocks running ahead (up to MaxFuture). They are counted, and since
// a counted event moves the watermark only up to its record's timestamp,
// the live traffic written after them is not late (contract §6; before the
// cap, every on-time event after a 9-minute skew was a late_event).
func TestSkewedBurstLeavesOnTimeTrafficOnTime(t *testing.T) {
	brokers, topics := startCluster(t)
	liveTraffic(t, brokers, topics.Raw, 300)
	before := endOffsets(t, brokers, topics.Raw)
	w, l := window.DefaultConfig(), event.DefaultLimits()
	n, err := chaos.Run(context.Background(), chaos.Config{Brokers: brokers, Topic: topics.Raw, Kind: chaos.Skewed,
		Count: 100, Seed: 7, Window: time.Duration(w.SizeMs) * time.Millisecond,
		OutOfOrderness:  time.Duration(w.OutOfOrdernessMs) * time.Millisecond,
		AllowedLateness: time.Duration(w.AllowedLatenessMs) * time.Millisecond, MaxEventBytes: l.MaxEventBytes,
		MaxFuture: time.Duration(l.MaxFutureMs) * time.Millisecond})
	if err != nil || n != 100 {
		t.Fatalf("Run = %d, %v", n, err)
	}
	// More live traffic, with other event ids than the first (another seed).
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Start = 2, time.Now().UTC().Truncate(time.Millisecond)
	cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate, cfg.Malformed, cfg.Oversized, cfg.Future = 0, 0, 0, 0, 0, 0, 0
	if _, err := producer.Run(context.Background(), producer.Config{Brokers: brokers, Topic: topics.Raw, Gen: cfg, Count: 300}); err != nil {
		t.Fatal(err)
	}
	got, values := outcomes(t, brokers, topics.Raw, before)
	if len(got) != 400 {
		t.Fatalf("%d new messages, want 400", len(got))
	}
	ahead := 0
	for i, o := range got {
		if o != pipeline.Counted {
			t.Errorf("message %d after the skewed burst: %s, want counted\n%s", i, o, values[i])
		}
		if i < 100 && strings.Contains(string(values[i]), `"event_time"`) {
			ahead++
		}
	}
	if ahead != 100 {
		t.Fatalf("%d of the burst's messages are events", ahead)
	}
}
