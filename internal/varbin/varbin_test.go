package varbin

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestReader(t *testing.T) {
	b := binary.AppendVarint(nil, -7)
	b = binary.AppendUvarint(b, 300)
	b = AppendBool(b, true)
	b = AppendBytes(b, []byte("abc"))
	b = AppendBytes(b, nil)
	r := NewReader(b)
	if v := r.Varint(); v != -7 {
		t.Fatalf("Varint = %d", v)
	}
	if v := r.Count(); v != 300 {
		t.Fatalf("Count = %d", v)
	}
	if !r.Bool() || string(r.LenBytes()) != "abc" || len(r.LenBytes()) != 0 || r.Done() != nil {
		t.Fatalf("reading back: %v", r.Err())
	}
	// A length beyond the input fails without allocating it, and the first
	// error sticks.
	r = NewReader(binary.AppendUvarint(nil, 1<<40))
	if got := r.LenBytes(); len(got) != 0 || r.Err() == nil {
		t.Fatalf("a huge length read %d bytes, err %v", len(got), r.Err())
	}
	first := r.Err()
	r.Byte()
	if r.Err() != first {
		t.Fatalf("the first error did not stick: %v", r.Err())
	}
	if r := NewReader([]byte{2}); r.Bool() || r.Err() == nil {
		t.Fatal("2 read as a boolean")
	}
	if r := NewReader([]byte{1, 2}); r.Byte() != 1 || r.Done() == nil {
		t.Fatal("bytes left over went unnoticed")
	}
	if r := NewReader(nil); r.Byte() != 0 || !errors.Is(r.Err(), ErrShort) {
		t.Fatal("an empty input read a byte")
	}
}
