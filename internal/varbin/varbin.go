// Package varbin reads the binary encodings of the processor's state
// (internal/window's window state, internal/checkpoint's records): varints
// and length-prefixed byte strings, written with encoding/binary's Append
// functions. A Reader's first error sticks, so a decoder reads a whole
// record and checks once; no length it reads can make it allocate more than
// its input holds.
package varbin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrShort means the input ended inside a value.
var ErrShort = errors.New("truncated")

// Reader reads values from b.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first error met.
func (r *Reader) Err() error { return r.err }

// Fail records err (if it is the first) and stops reading.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

// Done returns the first error, or one about bytes left unread.
func (r *Reader) Done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes left over", len(r.b))
	}
	return r.err
}

// Rest returns what is left and consumes it.
func (r *Reader) Rest() []byte {
	v := r.b
	r.b = nil
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.b) == 0 {
		r.Fail(ErrShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool() bool {
	switch r.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail(errors.New("bad boolean"))
	return false
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.Fail(ErrShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail(ErrShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Count reads an unsigned varint that must fit an int64.
func (r *Reader) Count() int64 {
	v := r.Uvarint()
	if v > math.MaxInt64 {
		r.Fail(errors.New("count out of range"))
		return 0
	}
	return int64(v)
}

// Length reads a number of items that take at least min bytes each.
func (r *Reader) Length(min int) int {
	v := r.Uvarint()
	if r.err == nil && v > uint64(len(r.b)/min) {
		r.Fail(fmt.Errorf("length %d beyond the %d bytes left", v, len(r.b)))
		return 0
	}
	return int(v)
}

// Bytes reads n bytes; they alias the input. On error they are n zero
// bytes, so a caller may index them before checking.
func (r *Reader) Bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.Fail(ErrShort)
		return make([]byte, max(n, 0))
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// LenBytes reads a length-prefixed byte string (AppendBytes).
func (r *Reader) LenBytes() []byte { return r.Bytes(r.Length(1)) }

// AppendBytes appends b with its length.
func AppendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// AppendBool appends 1 or 0.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}
