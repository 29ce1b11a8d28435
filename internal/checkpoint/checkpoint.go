// Package checkpoint is the record layout of a partition's recovery point on
// the compacted state topic: the engine's meta and the input offset it
// corresponds to in a checkpoint record, and each window's state in a
// record of its own, so that a checkpoint writes only the windows that
// changed since the last one (docs/design.md, "State that scales with what
// changed"). Encoding only: the processor's state store does the I/O.
//
// Records of raw partition p live in state partition p. Their keys:
//
//	<group>|<topic>|<p>|<epoch>.<generation>|c          the checkpoint record
//	<group>|<topic>|<p>|<epoch>.<generation>|w<start>   one window's state
//
// <epoch>.<generation> is the incarnation: each restore starts a new one,
// writing every window again under new keys, so that records a zombie
// (a replica that lost the partition without knowing it) writes under its
// own incarnation can never mix with the new owner's. A checkpoint's
// records are written as one record batch, which Kafka appends whole or not
// at all, so the newest checkpoint record always finds the windows it names.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/streamlab/streamlab/internal/varbin"
)

// Key is the prefix of every state record of one raw partition of one
// group: "<group>|<topic>|<partition>".
func Key(group, topic string, partition int32) string {
	return group + "|" + topic + "|" + strconv.FormatInt(int64(partition), 10)
}

// Incarnation identifies one owner's run of a partition's state. Epoch is
// one more than the highest epoch on the topic when the owner restored;
// Generation is the consumer-group generation it restored in. Later
// incarnations order higher: a replica that restored after another one
// wrote sees a higher epoch, and two that restored from the same state
// differ in generation, the later owner's being higher.
type Incarnation struct {
	Epoch      uint64
	Generation int32
}

// Less orders incarnations.
func (a Incarnation) Less(b Incarnation) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch < b.Epoch
	}
	return a.Generation < b.Generation
}

func (a Incarnation) String() string {
	return strconv.FormatUint(a.Epoch, 10) + "." + strconv.FormatInt(int64(a.Generation), 10)
}

// Kinds of state records.
const (
	KindCheckpoint = 'c'
	KindWindow     = 'w'
)

// RecordKey names one state record.
type RecordKey struct {
	Group, Topic string
	Partition    int32
	Incarnation  Incarnation
	Kind         byte  // KindCheckpoint or KindWindow
	Start        int64 // the window's start (KindWindow)
}

// String is the record key on the state topic.
func (k RecordKey) String() string {
	s := Key(k.Group, k.Topic, k.Partition) + "|" + k.Incarnation.String() + "|" + string(k.Kind)
	if k.Kind == KindWindow {
		s += strconv.FormatInt(k.Start, 10)
	}
	return s
}

// Prefix is the key prefix of the partition's records.
func (k RecordKey) Prefix() string { return Key(k.Group, k.Topic, k.Partition) }

// ParseKey reads a state record key; false if it is not one. Topic names
// cannot contain '|'; a group id may, so the key is read from the right.
func ParseKey(key string) (RecordKey, bool) {
	var k RecordKey
	rest, last, ok := cutLast(key)
	if !ok || last == "" {
		return k, false
	}
	switch k.Kind = last[0]; k.Kind {
	case KindCheckpoint:
		if len(last) != 1 {
			return k, false
		}
	case KindWindow:
		v, err := strconv.ParseInt(last[1:], 10, 64)
		if err != nil {
			return k, false
		}
		k.Start = v
	default:
		return k, false
	}
	rest, inc, ok := cutLast(rest)
	if !ok {
		return k, false
	}
	epoch, gen, ok := strings.Cut(inc, ".")
	e, err1 := strconv.ParseUint(epoch, 10, 64)
	g, err2 := strconv.ParseInt(gen, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return k, false
	}
	k.Incarnation = Incarnation{Epoch: e, Generation: int32(g)}
	rest, part, ok := cutLast(rest)
	p, err := strconv.ParseInt(part, 10, 32)
	if !ok || err != nil || p < 0 {
		return k, false
	}
	k.Partition = int32(p)
	k.Group, k.Topic, ok = cutLast(rest)
	if !ok || k.Topic == "" {
		return k, false
	}
	return k, true
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '|')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// Record is an output record a checkpoint carries.
type Record struct {
	Key, Value []byte
}

// WindowRef names the record holding a window's state: the window's start
// and the sequence number of the checkpoint that wrote it last.
type WindowRef struct {
	Start int64
	Seq   uint64
}

// Checkpoint is the content of a checkpoint record.
type Checkpoint struct {
	Incarnation Incarnation
	// Seq numbers the checkpoints of an incarnation, from 1 (the one that
	// writes every window).
	Seq uint64
	// NextOffset is the first input offset the state does not reflect.
	NextOffset int64
	WrittenAt  time.Time
	// Engine is the engine's meta (window.Engine.AppendMeta).
	Engine []byte
	// Windows are the windows the state holds and where each one is.
	Windows []WindowRef
	// Pending are aggregate records published by a shutdown flush. They
	// are written after this checkpoint is saved, so a restore from it
	// writes them (again, identical) before anything else: otherwise a crash
	// between the two would leave the flushed revisions on the aggregate
	// topic while the restored engine, not knowing them, gives the same
	// revision numbers to other contents.
	Pending []Record
}

// Record layouts: a magic byte per kind, then varints and length-prefixed
// byte strings.
const (
	magicCheckpoint = 0xC5
	magicWindow     = 0xA5
)

// EncodeCheckpoint appends the checkpoint record's value.
func EncodeCheckpoint(dst []byte, c *Checkpoint) []byte {
	dst = append(dst, magicCheckpoint)
	dst = binary.AppendUvarint(dst, c.Incarnation.Epoch)
	dst = binary.AppendVarint(dst, int64(c.Incarnation.Generation))
	dst = binary.AppendUvarint(dst, c.Seq)
	dst = binary.AppendVarint(dst, c.NextOffset)
	dst = binary.AppendVarint(dst, c.WrittenAt.UnixMilli())
	dst = varbin.AppendBytes(dst, c.Engine)
	dst = binary.AppendUvarint(dst, uint64(len(c.Windows)))
	for _, w := range c.Windows {
		dst = binary.AppendVarint(dst, w.Start)
		dst = binary.AppendUvarint(dst, w.Seq)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Pending)))
	for _, r := range c.Pending {
		dst = varbin.AppendBytes(dst, r.Key)
		dst = varbin.AppendBytes(dst, r.Value)
	}
	return dst
}

// DecodeCheckpoint reads a checkpoint record's value.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	d := varbin.NewReader(b)
	if m := d.Byte(); d.Err() == nil && m != magicCheckpoint {
		return nil, errors.New("decode checkpoint: not a checkpoint record of this version (it may have been written by an older streamlab)")
	}
	c := &Checkpoint{}
	c.Incarnation.Epoch = d.Uvarint()
	gen := d.Varint()
	if gen < math.MinInt32 || gen > math.MaxInt32 {
		d.Fail(errors.New("generation out of range"))
	}
	c.Incarnation.Generation = int32(gen)
	c.Seq = d.Uvarint()
	c.NextOffset = d.Varint()
	c.WrittenAt = time.UnixMilli(d.Varint()).UTC()
	c.Engine = d.LenBytes()
	n := d.Length(2)
	c.Windows = make([]WindowRef, n)
	for i := range c.Windows {
		c.Windows[i] = WindowRef{Start: d.Varint(), Seq: d.Uvarint()}
	}
	n = d.Length(2)
	if n > 0 {
		c.Pending = make([]Record, n)
		for i := range c.Pending {
			c.Pending[i] = Record{Key: d.LenBytes(), Value: d.LenBytes()}
		}
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	return c, nil
}

// EncodeWindow appends a window record's value: the window's state
// (window.Engine.AppendWindow) and the checkpoint that wrote it.
func EncodeWindow(dst []byte, seq uint64, state []byte) []byte {
	dst = append(dst, magicWindow)
	dst = binary.AppendUvarint(dst, seq)
	return append(dst, state...)
}

// DecodeWindow reads a window record's value. state aliases b.
func DecodeWindow(b []byte) (seq uint64, state []byte, err error) {
	d := varbin.NewReader(b)
	if m := d.Byte(); d.Err() == nil && m != magicWindow {
		return 0, nil, errors.New("decode window: not a window record of this version")
	}
	seq = d.Uvarint()
	if d.Err() != nil {
		return 0, nil, fmt.Errorf("decode window: %w", d.Err())
	}
	return seq, d.Rest(), nil
}
