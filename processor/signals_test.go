package processor_test

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamlab/streamlab/processor"
)

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// started is a processor running on its own goroutine.
type started struct {
	cancel context.CancelFunc
	done   chan error
}

func startProcessor(t *testing.T, cfg processor.Config) *started {
	t.Helper()
	p, err := processor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// until polls cond until it holds; the processor must not exit meanwhile.
func (s *started) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond() {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("processor exited before %s: %v", what, err)
		case <-deadline:
			t.Fatalf("%s did not happen within 60 s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop cancels the processor and returns what Run returned.
func (s *started) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("processor did not stop within 30 s")
		return nil
	}
}

// TestGaugesMoveWithoutInput: once the input stops, the watermark lag and
// the checkpoint age keep growing (the gauges are refreshed on a timer, not
// only when a batch arrives), the progress line reports every partition,
// the time spent is accounted by activity, and a healthy run logs no
// warning or error.
func TestGaugesMoveWithoutInput(t *testing.T) {
	brokers, topics := startCluster(t, 2)
	produce(t, brokers, topics.Raw, 51, 1000)
	reg := prometheus.NewRegistry()
	m := processor.NewMetrics(reg)
	var logs logBuffer
	cfg := processor.DefaultConfig()
	cfg.Brokers, cfg.Topics, cfg.Group, cfg.Metrics = brokers, topics, "g", m
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.CheckpointInterval, cfg.GaugeInterval, cfg.ProgressInterval = 100*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	p := startProcessor(t, cfg)

	p.until(t, "every message processed and checkpointed", func() bool {
		return handled(m) >= 1000 && caughtUpGroup(brokers, topics, "g", 2)
	})
	age := func() float64 { return testutil.ToFloat64(m.CheckpointAge.WithLabelValues("0")) }
	lag := func() float64 { return testutil.ToFloat64(m.WatermarkLag.WithLabelValues("0")) }
	a0, l0 := age(), lag()
	p.until(t, "checkpoint age and watermark lag grow while idle", func() bool { return age() > a0+0.2 && lag() > l0+0.2 })
	progress := regexp.MustCompile(`msg=progress messages_per_s=\d+ partitions="0: lag 0, watermark \S+ \(\S+ behind\), checkpoint \S+ ago; 1: lag 0, `)
	p.until(t, "a progress line for both partitions", func() bool { return progress.MatchString(logs.String()) })
	if err := p.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"fetch_wait", "process", "checkpoint"} {
		if v := testutil.ToFloat64(m.Time.WithLabelValues(a)); v <= 0 {
			t.Errorf("time_seconds_total{activity=%q} = %v", a, v)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "streamlab_processor_checkpoint_bytes"); err != nil || n != 0 {
		t.Errorf("%d checkpoint_bytes series after the stop (%v); a partition that left must not be reported", n, err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("a healthy run logged: %s", line)
		}
	}
}

// TestRecordsDeletedBeforeProcessingAreReported: when retention deleted
// records the checkpoint resumes from, kafka-go's Reader skips to the first
// record left; the processor says how many were lost, once, at ERROR.
func TestRecordsDeletedBeforeProcessingAreReported(t *testing.T) {
	brokers, topics := startCluster(t, 1)
	produceFrom(t, brokers, topics.Raw, 81, 0, 300)
	m := processor.NewMetrics(prometheus.NewRegistry())
	run := func(logs *logBuffer) {
		cfg := processor.DefaultConfig()
		cfg.Brokers, cfg.Topics, cfg.Group, cfg.Metrics = brokers, topics, "g", m
		cfg.CheckpointInterval, cfg.SessionTimeout = 50*time.Millisecond, 6*time.Second
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
		p := startProcessor(t, cfg)
		p.until(t, "caught up", func() bool { return caughtUpGroup(brokers, topics, "g", 1) })
		if err := p.stop(t); err != nil {
			t.Fatal(err)
		}
	}
	var first, second logBuffer
	run(&first)
	produceFrom(t, brokers, topics.Raw, 81, 300, 200) // offsets 300..499
	// Retention deletes everything before offset 420 (DeleteRecords is what
	// a retention pass does to a partition).
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topics.Raw
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 420
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("delete records: %v %+v", err, resp)
	}
	run(&second)
	lost := regexp.MustCompile(`level=ERROR msg="raw records were deleted by retention before they were processed; they are lost" partition=0 from_offset=300 to_offset=420 messages=120`)
	if n := len(lost.FindAllString(second.String(), -1)); n != 1 {
		t.Fatalf("%d reports of the lost records; log:\n%s", n, second.String())
	}
	if strings.Contains(first.String(), "level=ERROR") {
		t.Fatalf("a run without loss logged an error:\n%s", first.String())
	}
}
