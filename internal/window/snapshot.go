package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/varbin"
)

// The engine's state is encoded in two kinds of parts, so that a checkpoint
// can write only what changed (the processor's state store keeps one record
// per window and one for the rest):
//
//   - the meta: partition, settings, the watermark's maximum, the end of the
//     current coalescing range (AppendMeta);
//   - one part per window (AppendWindow), whose Version changes whenever
//     the window does.
//
// Snapshot and Restore put the parts together for whole-state uses (tests,
// the offline model of a crash). The encoding is binary: lengths and
// numbers as varints, event ids as their 16 bytes, strings with the prefix
// they share with the previous one left out, and session ids that are
// canonical UUIDs as their 16 bytes.

// stateVersion changes whenever the encoding below, or the rules that
// produced the state, do. 4 was the JSON snapshot with the skew cap and
// coalescing ranges; 5 is this binary layout.
const stateVersion = 5

// ErrConfigMismatch means a saved state was built with other window
// settings (or by another version of the engine).
var ErrConfigMismatch = errors.New("window settings differ from the saved state")

// Version identifies a window's state: any change to the window (an event,
// a duplicate, a publication, the watermark passing it) changes it.
type Version struct {
	Events, Duplicates, Revision int64
	Fired, Dirty                 bool
}

func (w *win) version() Version {
	return Version{Events: w.events, Duplicates: w.duplicates, Revision: w.revision, Fired: w.fired, Dirty: w.dirty}
}

// Versions calls fn with the start and version of every window held, in no
// particular order.
func (e *Engine) Versions(fn func(start int64, v Version)) {
	for start, w := range e.windows {
		fn(start, w.version())
	}
}

// Meta is the engine's state outside its windows.
type Meta struct {
	Partition int32
	Config    Config
	HasMax    bool
	MaxTime   int64 // the watermark is MaxTime − OutOfOrdernessMs
	RangeEnd  int64 // first offset of the next coalescing range
}

// AppendMeta appends the engine's meta.
func (e *Engine) AppendMeta(dst []byte) []byte {
	dst = append(dst, stateVersion)
	dst = binary.AppendVarint(dst, int64(e.partition))
	c := e.cfg
	for _, v := range []int64{c.SizeMs, c.OutOfOrdernessMs, c.AllowedLatenessMs, c.ReplayRetentionMs, c.CoalesceOffsets} {
		dst = binary.AppendVarint(dst, v)
	}
	dst = varbin.AppendBool(dst, e.hasMax)
	dst = binary.AppendVarint(dst, e.maxTime)
	return binary.AppendVarint(dst, e.rangeEnd)
}

// ReadMeta decodes AppendMeta's bytes.
func ReadMeta(b []byte) (Meta, error) {
	d := varbin.NewReader(b)
	var m Meta
	if v := d.Byte(); d.Err() == nil && v != stateVersion {
		return m, fmt.Errorf("%w: the state was written by another version of the engine (v%d, this one reads v%d)", ErrConfigMismatch, v, stateVersion)
	}
	m.Partition = int32(d.Varint())
	m.Config = Config{SizeMs: d.Varint(), OutOfOrdernessMs: d.Varint(), AllowedLatenessMs: d.Varint(),
		ReplayRetentionMs: d.Varint(), CoalesceOffsets: d.Varint()}
	m.HasMax = d.Bool()
	m.MaxTime = d.Varint()
	m.RangeEnd = d.Varint()
	if err := d.Done(); err != nil {
		return m, fmt.Errorf("engine state: %w", err)
	}
	return m, nil
}

// AppendWindow appends the state of the window starting at start; false if
// the engine holds no such window.
func (e *Engine) AppendWindow(dst []byte, start int64) ([]byte, bool) {
	w := e.windows[start]
	if w == nil {
		return dst, false
	}
	return w.appendTo(dst), true
}

func (w *win) appendTo(dst []byte) []byte {
	dst = binary.AppendVarint(dst, w.start)
	var flags byte
	if w.fired {
		flags |= 1
	}
	if w.dirty {
		flags |= 2
	}
	dst = append(dst, flags)
	for _, v := range []int64{w.revision, w.events, w.lateAccepted, w.duplicates} {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	for _, v := range w.byType {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.ids)))
	for id := range w.ids {
		dst = append(dst, id[:]...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.users)))
	prev := ""
	for u := range w.users {
		dst, prev = appendKey(dst, prev, u)
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.sessionBits)))
	prev = ""
	for s, i := range w.sessionIdx {
		dst, prev = appendKey(dst, prev, s)
		dst = append(dst, w.sessionBits[i])
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.products)))
	prev = ""
	for _, p := range w.products {
		dst, prev = appendKey(dst, prev, p)
		dst = binary.AppendUvarint(dst, uint64(w.productViews(p)))
	}
	for _, ms := range []moneys{w.revenue, w.refunded} {
		dst = binary.AppendUvarint(dst, uint64(len(ms)))
		for _, m := range ms {
			dst = append(dst, m.key...)
			dst = binary.AppendVarint(dst, m.amount)
		}
	}
	return dst
}

// Key forms (appendKey): a string stored as the length of the prefix it
// shares with the previous key and the rest, or a canonical lowercase UUID
// as its 16 bytes.
const (
	keyText = 0
	keyUUID = 1
)

func appendKey(dst []byte, prev, k string) ([]byte, string) {
	if id, ok := uuidBytes(k); ok {
		return append(append(dst, keyUUID), id[:]...), prev
	}
	n := 0
	for n < len(k) && n < len(prev) && k[n] == prev[n] {
		n++
	}
	dst = append(dst, keyText)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(len(k)-n))
	return append(dst, k[n:]...), k
}

// uuidBytes is a key's 16 bytes if it is a UUID in the canonical lowercase
// form (the only one appendUUIDText gives back: upper case stays text, so
// that decoding returns the very same string).
func uuidBytes(s string) (id [16]byte, ok bool) {
	if len(s) != 36 {
		return id, false
	}
	if id, ok = event.ParseUUID([]byte(s)); !ok {
		return id, false
	}
	var canonical [36]byte
	return id, string(appendUUIDText(canonical[:0], id[:])) == s
}

const hexDigits = "0123456789abcdef"

func appendUUIDText(dst, id []byte) []byte {
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[x>>4], hexDigits[x&15])
	}
	return dst
}

// readWindow decodes appendTo's bytes.
func readWindow(b []byte) (*win, error) {
	d := varbin.NewReader(b)
	w := newWin(d.Varint())
	flags := d.Byte()
	w.fired, w.dirty = flags&1 != 0, flags&2 != 0
	w.revision, w.events, w.lateAccepted, w.duplicates = d.Count(), d.Count(), d.Count(), d.Count()
	for i := range w.byType {
		w.byType[i] = d.Count()
	}
	n := d.Length(16)
	for range n {
		w.ids[[16]byte(d.Bytes(16))] = struct{}{}
	}
	var keys keyReader
	n = d.Length(2)
	for range n {
		w.users[string(keys.next(d))] = struct{}{}
	}
	keys.reset()
	n = d.Length(3)
	for range n {
		w.addSession(keys.next(d), d.Byte())
	}
	keys.reset()
	n = d.Length(3)
	for range n {
		w.addProductViews(keys.next(d), d.Count())
	}
	for _, ms := range []*moneys{&w.revenue, &w.refunded} {
		n = d.Length(4)
		for range n {
			cur := d.Bytes(3)
			amount := d.Varint()
			if d.Err() == nil {
				ms.add([3]byte(cur), amount)
			}
		}
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("window state: %w", err)
	}
	if int64(len(w.ids)) > w.events {
		return nil, fmt.Errorf("window state: %d event ids for %d events", len(w.ids), w.events)
	}
	return w, nil
}

// RestoreParts rebuilds an engine from its meta and the parts of its
// windows. It refuses a state built with other window settings: continuing
// it would silently mix two definitions of a window.
func RestoreParts(cfg Config, partition int32, meta []byte, windows ...[]byte) (*Engine, error) {
	m, err := ReadMeta(meta)
	if err != nil {
		return nil, fmt.Errorf("restore partition %d: %w; start over with a new --group and --state-topic", partition, err)
	}
	cfg = cfg.withDefaults()
	if m.Config != cfg {
		return nil, fmt.Errorf("restore partition %d: %w: the state was built with %+v, this processor has %+v; run with the same window settings, or start over with a new --group and --state-topic",
			partition, ErrConfigMismatch, m.Config, cfg)
	}
	if m.Partition != partition {
		return nil, fmt.Errorf("restore partition %d: the state belongs to partition %d", partition, m.Partition)
	}
	e, err := New(cfg, partition)
	if err != nil {
		return nil, err
	}
	e.hasMax, e.maxTime, e.rangeEnd = m.HasMax, m.MaxTime, m.RangeEnd
	for _, b := range windows {
		w, err := readWindow(b)
		if err != nil {
			return nil, fmt.Errorf("restore partition %d: %w", partition, err)
		}
		if e.windows[w.start] != nil {
			return nil, fmt.Errorf("restore partition %d: window %d twice", partition, w.start)
		}
		e.windows[w.start] = w
		if w.fired {
			e.retained = append(e.retained, w.start)
			if w.dirty {
				e.changes++
			}
		} else {
			e.pending = append(e.pending, w.start)
		}
	}
	slices.Sort(e.pending)
	slices.Sort(e.retained)
	return e, nil
}

// RestoreMeta is an engine with the meta's settings and watermark and no
// windows: enough to say what is late (IsLate), as `dlq replay` does.
func RestoreMeta(meta []byte) (*Engine, error) {
	m, err := ReadMeta(meta)
	if err != nil {
		return nil, err
	}
	e, err := New(m.Config, m.Partition)
	if err != nil {
		return nil, err
	}
	e.hasMax, e.maxTime, e.rangeEnd = m.HasMax, m.MaxTime, m.RangeEnd
	return e, nil
}

// Snapshot encodes the whole state: the meta and every window.
// Restore(Snapshot()) followed by the rest of the input gives exactly the
// output of never stopping.
func (e *Engine) Snapshot() ([]byte, error) {
	meta := e.AppendMeta(nil)
	b := binary.AppendUvarint(nil, uint64(len(meta)))
	b = append(b, meta...)
	b = binary.AppendUvarint(b, uint64(len(e.windows)))
	starts := make([]int64, 0, len(e.windows))
	for st := range e.windows {
		starts = append(starts, st)
	}
	slices.Sort(starts)
	var part []byte
	for _, st := range starts {
		part = e.windows[st].appendTo(part[:0])
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	return b, nil
}

// Restore rebuilds an engine from Snapshot's bytes (see RestoreParts).
func Restore(cfg Config, partition int32, b []byte) (*Engine, error) {
	d := varbin.NewReader(b)
	meta := d.Bytes(d.Length(1))
	n := d.Length(1)
	windows := make([][]byte, 0, n)
	for range n {
		windows = append(windows, d.Bytes(d.Length(1)))
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("restore partition %d: snapshot: %w", partition, err)
	}
	return RestoreParts(cfg, partition, meta, windows...)
}

// keyReader reads appendKey keys. The key it returns is valid until the
// next call: callers copy it (a map insert does).
type keyReader struct{ prev, spare []byte }

func (r *keyReader) reset() { r.prev = r.prev[:0] }

func (r *keyReader) next(d *varbin.Reader) []byte {
	switch d.Byte() {
	case keyUUID:
		r.spare = appendUUIDText(r.spare[:0], d.Bytes(16))
		return r.spare
	case keyText:
		shared := d.Uvarint()
		if d.Err() == nil && shared > uint64(len(r.prev)) {
			d.Fail(errors.New("bad key prefix"))
			return nil
		}
		rest := d.Bytes(d.Length(1))
		k := append(append(r.spare[:0], r.prev[:shared]...), rest...)
		r.spare, r.prev = r.prev, k
		return k
	}
	d.Fail(errors.New("bad key form"))
	return nil
}
