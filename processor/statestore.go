package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/kafkaio"
)

// Store keeps the state of each source partition of one consumer group
// (goka's storage/ in miniature: the worker only loads and saves, and a test
// can hand it a store of its own). A partition is loaded by one worker at a
// time; different partitions' workers call concurrently.
type Store interface {
	// Load returns the newest complete state of a partition, or nil if there
	// is none, and makes later Saves of the partition write as a new owner
	// (generation is the consumer-group generation the worker belongs to).
	// An error it cannot recover from (state of another group, a record it
	// cannot read) is not worth retrying.
	Load(ctx context.Context, partition, generation int32) (*State, error)
	// Save makes a checkpoint durable and returns the bytes it wrote; it
	// returns only once every in-sync replica has them. A failed Save
	// changes nothing: it may be called again with the same checkpoint.
	Save(ctx context.Context, cp *Checkpoint) (int, error)
}

// State is a partition's saved state.
type State struct {
	NextOffset int64 // the first input offset the state does not reflect
	WrittenAt  time.Time
	Engine     []byte   // the engine's meta (window.Engine.AppendMeta)
	Windows    [][]byte // the state of every window (window.Engine.AppendWindow)
	// Pending are the records of a shutdown flush the checkpoint carries
	// (checkpoint.Checkpoint.Pending).
	Pending []checkpoint.Record
}

// Checkpoint is what a worker saves: the engine's meta and the windows
// that changed since its previous checkpoint (all of them in the first one
// after a Load), at an input offset.
type Checkpoint struct {
	Partition  int32
	NextOffset int64
	WrittenAt  time.Time
	Engine     []byte
	Changed    []WindowState // windows written anew
	Live       []int64       // the start of every window the engine holds
	Pending    []checkpoint.Record
}

// WindowState is one window's encoded state.
type WindowState struct {
	Start int64
	State []byte
}

// ErrForeignState means the state topic holds another group's (or another
// raw topic's) checkpoints: continuing would mix two groups' state.
var ErrForeignState = errors.New("the state topic holds another group's checkpoints")

// ErrOldState means the state topic holds checkpoints in a format this
// version does not read.
var ErrOldState = errors.New("the state topic holds checkpoints of an older streamlab")

// kafkaStore keeps each source partition's state on the compacted state
// topic (internal/checkpoint has the layout): raw partition p in state
// partition p, one record per window and one checkpoint record naming the
// windows and the offset. A checkpoint writes the windows that changed and
// its checkpoint record as one record batch, which Kafka appends whole or
// not at all; compaction keeps the newest record of each key.
type kafkaStore struct {
	brokers  []string
	topic    string
	group    string
	rawTopic string
	client   *kafka.Client
	maxBytes int // the state topic's max.message.bytes; 0 until known

	mu    sync.Mutex
	parts map[int32]*owned
}

// owned is what the store knows of a partition since it loaded it.
type owned struct {
	inc     checkpoint.Incarnation
	seq     uint64           // checkpoints saved in this incarnation
	windows map[int64]uint64 // window start -> seq of the checkpoint that wrote its record
	garbage []string         // keys of earlier incarnations, tombstoned by the first Save
}

func newKafkaStore(brokers []string, stateTopic, group, rawTopic string) *kafkaStore {
	return &kafkaStore{brokers: brokers, topic: stateTopic, group: group, rawTopic: rawTopic,
		client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}, parts: map[int32]*owned{}}
}

func (s *kafkaStore) prefix(partition int32) string {
	return checkpoint.Key(s.group, s.rawTopic, partition)
}

// Load reads the whole state partition (compaction keeps it to about the
// live windows plus what changed since the cleaner last ran), picks the
// newest checkpoint whose windows are all there, and starts a new
// incarnation.
func (s *kafkaStore) Load(ctx context.Context, partition, generation int32) (*State, error) {
	prefix := s.prefix(partition)
	latest := map[string][]byte{} // key -> newest value; nil: a tombstone
	err := kafkaio.ReadPartitionToEnd(ctx, s.brokers, s.topic, int(partition), func(m kafka.Message) error {
		latest[string(m.Key)] = m.Value
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	type incarnationRecords struct {
		cp      []byte
		windows map[int64][]byte
	}
	incs := map[checkpoint.Incarnation]*incarnationRecords{}
	var maxEpoch uint64
	var garbage []string
	for key, v := range latest {
		if v == nil {
			continue // deleted
		}
		if key == prefix {
			return nil, fmt.Errorf("state topic %s partition %d: %w (key %q): start over with a new group and state topic, or delete the state topic so that the processor reprocesses the raw topic",
				s.topic, partition, ErrOldState, key)
		}
		k, ok := checkpoint.ParseKey(key)
		if !ok || k.Prefix() != prefix {
			return nil, fmt.Errorf("state topic %s partition %d: %w (a record %q, where this processor's start with %q): give each processor group its own state topic",
				s.topic, partition, ErrForeignState, key, prefix+"|")
		}
		garbage = append(garbage, key)
		maxEpoch = max(maxEpoch, k.Incarnation.Epoch)
		r := incs[k.Incarnation]
		if r == nil {
			r = &incarnationRecords{windows: map[int64][]byte{}}
			incs[k.Incarnation] = r
		}
		if k.Kind == checkpoint.KindCheckpoint {
			r.cp = v
		} else {
			r.windows[k.Start] = v
		}
	}
	order := make([]checkpoint.Incarnation, 0, len(incs))
	for inc, r := range incs {
		if r.cp != nil {
			order = append(order, inc)
		}
	}
	slices.SortFunc(order, func(a, b checkpoint.Incarnation) int {
		if b.Less(a) {
			return -1
		}
		if a.Less(b) {
			return 1
		}
		return 0
	})
	var st *State
	var problems []string
	for _, inc := range order {
		r := incs[inc]
		var err error
		if st, err = assemble(r.cp, r.windows); err == nil {
			break
		}
		// Only a zombie writing after the new owner tombstoned its records
		// could leave this; an older incarnation is still exact.
		problems = append(problems, fmt.Sprintf("incarnation %s: %v", inc, err))
		st = nil
	}
	if st == nil && len(problems) > 0 {
		return nil, fmt.Errorf("state topic %s partition %d: no complete checkpoint: %s", s.topic, partition, strings.Join(problems, "; "))
	}
	slices.Sort(garbage)
	s.mu.Lock()
	s.parts[partition] = &owned{inc: checkpoint.Incarnation{Epoch: maxEpoch + 1, Generation: generation},
		windows: map[int64]uint64{}, garbage: garbage}
	s.mu.Unlock()
	return st, nil
}

// assemble checks that a checkpoint record's windows are all there, each
// as written by the checkpoint it names, and returns the state.
func assemble(cpValue []byte, windows map[int64][]byte) (*State, error) {
	cp, err := checkpoint.DecodeCheckpoint(cpValue)
	if err != nil {
		return nil, err
	}
	st := &State{NextOffset: cp.NextOffset, WrittenAt: cp.WrittenAt, Engine: cp.Engine, Pending: cp.Pending,
		Windows: make([][]byte, 0, len(cp.Windows))}
	for _, ref := range cp.Windows {
		v, ok := windows[ref.Start]
		if !ok {
			return nil, fmt.Errorf("checkpoint %d names window %d, which is not on the topic", cp.Seq, ref.Start)
		}
		seq, state, err := checkpoint.DecodeWindow(v)
		if err != nil {
			return nil, fmt.Errorf("window %d: %w", ref.Start, err)
		}
		if seq != ref.Seq {
			return nil, fmt.Errorf("checkpoint %d names window %d as written by checkpoint %d, the topic has it from checkpoint %d", cp.Seq, ref.Start, ref.Seq, seq)
		}
		st.Windows = append(st.Windows, state)
	}
	return st, nil
}

// Save writes, as one record batch: the changed windows, tombstones for
// the windows the engine no longer holds (and, in the first Save after a
// Load, for every record of earlier incarnations), and last the checkpoint
// record, so that the partition's last record is always a checkpoint.
func (s *kafkaStore) Save(ctx context.Context, cp *Checkpoint) (int, error) {
	s.mu.Lock()
	o := s.parts[cp.Partition]
	s.mu.Unlock()
	if o == nil {
		return 0, fmt.Errorf("save checkpoint of partition %d: not loaded", cp.Partition)
	}
	seq := o.seq + 1
	key := checkpoint.RecordKey{Group: s.group, Topic: s.rawTopic, Partition: cp.Partition, Incarnation: o.inc, Kind: checkpoint.KindWindow}
	var recs []kafka.Record
	size := 0
	add := func(k string, v []byte) {
		var value kafka.Bytes
		if v != nil {
			value = kafka.NewBytes(v)
		}
		recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte(k)), Value: value})
		size += len(k) + len(v) + 24 // lengths, deltas and attributes at their widest
	}
	written := make(map[int64]uint64, len(o.windows)+len(cp.Changed))
	for start, at := range o.windows {
		written[start] = at
	}
	for _, w := range cp.Changed {
		key.Start = w.Start
		add(key.String(), checkpoint.EncodeWindow(nil, seq, w.State))
		written[w.Start] = seq
	}
	live := make(map[int64]bool, len(cp.Live))
	refs := make([]checkpoint.WindowRef, 0, len(cp.Live))
	for _, start := range cp.Live {
		live[start] = true
		at, ok := written[start]
		if !ok {
			return 0, fmt.Errorf("save checkpoint of partition %d: window %d was never written", cp.Partition, start)
		}
		refs = append(refs, checkpoint.WindowRef{Start: start, Seq: at})
	}
	for start := range written {
		if !live[start] {
			key.Start = start
			add(key.String(), nil)
			delete(written, start)
		}
	}
	if o.seq == 0 {
		for _, k := range o.garbage {
			add(k, nil)
		}
	}
	key.Kind = checkpoint.KindCheckpoint
	add(key.String(), checkpoint.EncodeCheckpoint(nil, &checkpoint.Checkpoint{Incarnation: o.inc, Seq: seq,
		NextOffset: cp.NextOffset, WrittenAt: cp.WrittenAt, Engine: cp.Engine, Windows: refs, Pending: cp.Pending}))
	if s.maxBytes > 0 && size+61 > s.maxBytes {
		return 0, fmt.Errorf("the checkpoint of partition %d needs a record batch of %d bytes, over the state topic %s's max.message.bytes %d: raise it",
			cp.Partition, size+61, s.topic, s.maxBytes)
	}
	resp, err := s.client.Produce(ctx, &kafka.ProduceRequest{Topic: s.topic, Partition: int(cp.Partition),
		RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(recs...)})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return 0, fmt.Errorf("save checkpoint of partition %d to %s: %w", cp.Partition, s.topic, err)
	}
	o.seq, o.windows, o.garbage = seq, written, nil
	return size, nil
}
