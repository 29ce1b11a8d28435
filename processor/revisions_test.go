package processor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/processor"
)

// memStore keeps each partition's state in memory and can be made to
// crash: after its budget of saves every Save fails, as if the replica died
// between writing outputs and saving the checkpoint that covers them.
type memStore struct {
	mu     sync.Mutex
	parts  map[int32]*memState
	budget int // saves left before the crash; < 0 means no crash
}

type memState struct {
	next    int64
	engine  []byte
	windows map[int64][]byte
	pending []checkpoint.Record
}

var errCrash = errors.New("simulated crash before the checkpoint")

func newMemStore() *memStore { return &memStore{parts: map[int32]*memState{}, budget: -1} }

func (s *memStore) Load(_ context.Context, p, _ int32) (*processor.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.parts[p]
	if m == nil {
		return nil, nil
	}
	st := &processor.State{NextOffset: m.next, Engine: m.engine, Pending: m.pending}
	for _, w := range m.windows {
		st.Windows = append(st.Windows, w)
	}
	return st, nil
}

func (s *memStore) Save(_ context.Context, cp *processor.Checkpoint) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.budget == 0 {
		return 0, errCrash
	}
	s.budget--
	old := s.parts[cp.Partition]
	m := &memState{next: cp.NextOffset, engine: bytes.Clone(cp.Engine), windows: map[int64][]byte{}}
	n := len(cp.Engine)
	for _, w := range cp.Changed {
		m.windows[w.Start] = bytes.Clone(w.State)
		n += len(w.State)
	}
	for _, start := range cp.Live {
		if _, ok := m.windows[start]; !ok {
			if old == nil || old.windows[start] == nil {
				return 0, fmt.Errorf("window %d is live but was never saved", start)
			}
			m.windows[start] = old.windows[start]
		}
	}
	for _, r := range cp.Pending {
		m.pending = append(m.pending, checkpoint.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)})
	}
	s.parts[cp.Partition] = m
	return n, nil
}

func (s *memStore) crashAfter(n int) {
	s.mu.Lock()
	s.budget = n
	s.mu.Unlock()
}

// emissions reads every record of the aggregate topic and fails the test
// if one (window, partition, revision) was written with two contents.
func emissions(t *testing.T, brokers []string, topics topic.Names) (map[string][]byte, int) {
	t.Helper()
	out := map[string][]byte{}
	n := 0
	if err := kafkaio.ReadToEnd(context.Background(), brokers, topics.Agg, func(m kafka.Message) error {
		n++
		r, err := aggregate.Unmarshal(m.Value)
		if err != nil {
			return err
		}
		k := fmt.Sprintf("%s rev %d", r.Key(), r.Revision)
		if prev, ok := out[k]; ok && !bytes.Equal(prev, m.Value) {
			return fmt.Errorf("%s emitted with two contents:\n%s\n%s", k, prev, m.Value)
		}
		out[k] = m.Value
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, n
}

// TestReprocessingReemitsTheSameBytes crashes the replica between outputs
// and checkpoints at random points, with random batch sizes, checkpoint
// bounds and numbers of batches in flight, so that each restart reprocesses
// from an older checkpoint at a different offset and re-emits what was
// already written. Every (window, partition, revision) on the topic must
// have one content, and the set must be exactly the oracle's emissions of
// one uninterrupted run.
func TestReprocessingReemitsTheSameBytes(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 6))
	const partitions, runs, burst = 2, 7, 1000
	brokers, topics := startCluster(t, partitions)
	store := newMemStore()
	m := processor.NewMetrics(prometheus.NewRegistry())
	crashes := 0
	for run := 0; run < runs; run++ {
		// Each run finds new input behind what the last one left.
		produceFrom(t, brokers, topics.Raw, 61, int64(run)*burst, burst)
		final := run == runs-1
		cfg := processor.DefaultConfig()
		cfg.Brokers, cfg.Topics, cfg.Group, cfg.Metrics, cfg.Store = brokers, topics, "g", m, store
		cfg.MaxBatch, cfg.MaxInFlight = 1+rng.IntN(400), 1+rng.IntN(4)
		cfg.CheckpointEvery, cfg.CheckpointInterval = 1+rng.IntN(600), time.Duration(1+rng.IntN(200))*time.Millisecond
		cfg.SessionTimeout, cfg.FlushOnShutdown = 6*time.Second, final
		if final {
			store.crashAfter(-1)
		} else {
			store.crashAfter(1 + rng.IntN(3))
		}
		before := handled(m)
		p := startProcessor(t, cfg)
		deadline := time.After(60 * time.Second)
		for {
			select {
			case err := <-p.done:
				p.done <- err
				if final || !errors.Is(err, errCrash) {
					t.Fatalf("run %d ended with %v", run, err)
				}
				crashes++
				t.Logf("run %d (max batch %d, in flight %d, checkpoint every %d or %s): crashed after %d messages", run,
					cfg.MaxBatch, cfg.MaxInFlight, cfg.CheckpointEvery, cfg.CheckpointInterval, handled(m)-before)
			case <-deadline:
				t.Fatalf("run %d neither crashed nor caught up within 60 s", run)
			case <-time.After(20 * time.Millisecond):
				if !caughtUpGroup(brokers, topics, "g", partitions) {
					continue
				}
				if err := p.stop(t); err != nil && !errors.Is(err, errCrash) {
					t.Fatalf("run %d: %v", run, err)
				}
			}
			break
		}
	}
	if crashes < 3 {
		t.Fatalf("only %d of %d runs crashed before catching up: the test did not exercise reprocessing", crashes, runs-1)
	}
	got, records := emissions(t, brokers, topics)
	want := map[string][]byte{}
	for p := 0; p < partitions; p++ {
		res, _ := runOracle(t, brokers, topics.Raw, p, oracle.DefaultConfig(), nil)
		for _, b := range res.Emissions {
			r, err := aggregate.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprintf("%s rev %d", r.Key(), r.Revision)] = b
		}
	}
	for k, w := range want {
		if ok, diff := oracle.EqualJSON(got[k], w); !ok {
			t.Errorf("%s: %s", k, diff)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s was emitted but is not an emission of the uninterrupted run", k)
		}
	}
	if records <= len(got) {
		t.Errorf("%d records for %d emissions: the crashes did not make the replica re-emit anything", records, len(got))
	}
	t.Logf("%d crashes; %d records on the topic for %d distinct emissions", crashes, records, len(got))
}

// TestShutdownFlushIsCheckpointedBeforeItsRecords: the revisions a
// shutdown flush publishes travel in the checkpoint saved before them, and
// a restore from it writes them again, so no crash between the two can
// leave a published revision the restored engine does not know (it would
// give that revision number to another content).
func TestShutdownFlushIsCheckpointedBeforeItsRecords(t *testing.T) {
	const partitions = 1
	brokers, topics := startCluster(t, partitions)
	store := newMemStore()
	m := processor.NewMetrics(prometheus.NewRegistry())
	run := func(flush bool, until func() bool) {
		cfg := processor.DefaultConfig()
		cfg.Brokers, cfg.Topics, cfg.Group, cfg.Metrics, cfg.Store = brokers, topics, "g", m, store
		cfg.SessionTimeout, cfg.FlushOnShutdown, cfg.CheckpointInterval = 6*time.Second, flush, 50*time.Millisecond
		p := startProcessor(t, cfg)
		p.until(t, "caught up", until)
		if err := p.stop(t); err != nil {
			t.Fatal(err)
		}
	}
	caught := func() bool { return caughtUpGroup(brokers, topics, "g", partitions) }
	produceFrom(t, brokers, topics.Raw, 71, 0, 1500)
	run(true, caught)
	pending := store.parts[0].pending
	if len(pending) == 0 {
		t.Fatal("the checkpoint after a shutdown flush carries no flushed record")
	}
	count := func() map[string]int {
		out := map[string]int{}
		if err := kafkaio.ReadToEnd(context.Background(), brokers, topics.Agg, func(m kafka.Message) error {
			out[string(m.Key)+" "+string(m.Value)]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := count()
	for _, r := range pending {
		if before[string(r.Key)+" "+string(r.Value)] != 1 {
			t.Fatalf("flushed record %s is not on the topic once", r.Value)
		}
	}
	restored := restores(m)
	run(false, func() bool { return restores(m) > restored })
	after := count()
	for _, r := range pending {
		if after[string(r.Key)+" "+string(r.Value)] != 2 {
			t.Fatalf("the restore did not write the flushed record %s again", r.Value)
		}
	}
	if store.parts[0].pending != nil {
		// The restore wrote nothing new: the checkpoint it leaves (if any)
		// may still carry them; once input moves on, it does not.
		produceFrom(t, brokers, topics.Raw, 71, 1500, 500)
		run(false, caught)
		if len(store.parts[0].pending) != 0 {
			t.Fatal("a checkpoint after new input still carries flushed records")
		}
	}
	emissions(t, brokers, topics) // one content per (window, partition, revision)
}
