package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
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
	dst = appendBool(dst, e.hasMax)
	dst = binary.AppendVarint(dst, e.maxTime)
	return binary.AppendVarint(dst, e.rangeEnd)
}

// ReadMeta decodes AppendMeta's bytes.
func ReadMeta(b []byte) (Meta, error) {
	d := decoder{b: b}
	var m Meta
	if v := d.byte(); d.err == nil && v != stateVersion {
		return m, fmt.Errorf("%w: the state was written by another version of the engine (v%d, this one reads v%d)", ErrConfigMismatch, v, stateVersion)
	}
	m.Partition = int32(d.varint())
	m.Config = Config{SizeMs: d.varint(), OutOfOrdernessMs: d.varint(), AllowedLatenessMs: d.varint(),
		ReplayRetentionMs: d.varint(), CoalesceOffsets: d.varint()}
	m.HasMax = d.bool()
	m.MaxTime = d.varint()
	m.RangeEnd = d.varint()
	if err := d.done(); err != nil {
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

// uuidBytes parses the canonical lowercase form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; anything else (upper case,
// braces) stays text, so that decoding gives back the very same string.
func uuidBytes(s string) (id [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return id, false
		}
		id[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return id, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
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
	d := decoder{b: b}
	w := newWin(d.varint())
	flags := d.byte()
	w.fired, w.dirty = flags&1 != 0, flags&2 != 0
	w.revision, w.events, w.lateAccepted, w.duplicates = d.count(), d.count(), d.count(), d.count()
	for i := range w.byType {
		w.byType[i] = d.count()
	}
	n := d.length(16)
	for range n {
		w.ids[[16]byte(d.bytes(16))] = struct{}{}
	}
	var keys keyReader
	n = d.length(2)
	for range n {
		w.users[string(keys.next(&d))] = struct{}{}
	}
	keys.reset()
	n = d.length(3)
	for range n {
		w.addSession(keys.next(&d), d.byte())
	}
	keys.reset()
	n = d.length(3)
	for range n {
		w.addProductViews(keys.next(&d), d.count())
	}
	for _, ms := range []*moneys{&w.revenue, &w.refunded} {
		n = d.length(4)
		for range n {
			cur := d.bytes(3)
			amount := d.varint()
			if d.err == nil {
				ms.add([3]byte(cur), amount)
			}
		}
	}
	if err := d.done(); err != nil {
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
	d := decoder{b: b}
	meta := d.bytes(d.length(1))
	n := d.length(1)
	windows := make([][]byte, 0, n)
	for range n {
		windows = append(windows, d.bytes(d.length(1)))
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("restore partition %d: snapshot: %w", partition, err)
	}
	return RestoreParts(cfg, partition, meta, windows...)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// decoder reads the encoding above; the first error sticks and every later
// read returns zero values.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errors.New("bad boolean"))
	return false
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a non-negative int64.
func (d *decoder) count() int64 {
	v := d.uvarint()
	if v > math.MaxInt64 {
		d.fail(errors.New("count out of range"))
		return 0
	}
	return int64(v)
}

// length reads a number of items that take at least min bytes each, so a
// corrupt length cannot make the decoder allocate more than the input.
func (d *decoder) length(min int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)/min) {
		d.fail(fmt.Errorf("length %d beyond the %d bytes left", v, len(d.b)))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail(errShort)
		return make([]byte, max(n, 0))
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// keyReader reads appendKey keys. The key it returns is valid until the
// next call: callers copy it (a map insert does).
type keyReader struct{ prev, spare []byte }

func (r *keyReader) reset() { r.prev = r.prev[:0] }

func (r *keyReader) next(d *decoder) []byte {
	switch d.byte() {
	case keyUUID:
		r.spare = appendUUIDText(r.spare[:0], d.bytes(16))
		return r.spare
	case keyText:
		shared := d.uvarint()
		if d.err == nil && shared > uint64(len(r.prev)) {
			d.fail(errors.New("bad key prefix"))
			return nil
		}
		rest := d.bytes(d.length(1))
		k := append(append(r.spare[:0], r.prev[:shared]...), rest...)
		r.spare, r.prev = r.prev, k
		return k
	}
	d.fail(errors.New("bad key form"))
	return nil
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	return d.err
}
