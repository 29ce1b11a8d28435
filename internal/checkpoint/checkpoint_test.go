package checkpoint

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestKeys: every key names its record back, whatever the group id holds
// (a group id may contain '|'; a topic name cannot).
func TestKeys(t *testing.T) {
	for _, k := range []RecordKey{
		{Group: "g", Topic: "events.raw.v1", Partition: 0, Incarnation: Incarnation{1, 0}, Kind: KindCheckpoint},
		{Group: "a|b|c", Topic: "t", Partition: 11, Incarnation: Incarnation{Epoch: 1 << 40, Generation: 123}, Kind: KindWindow, Start: 1_767_268_800_000},
		{Group: "", Topic: "t", Partition: 2, Incarnation: Incarnation{Epoch: 3, Generation: -1}, Kind: KindWindow, Start: -60_000},
	} {
		got, ok := ParseKey(k.String())
		if !ok || got != k {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", k.String(), got, ok, k)
		}
		if !strings.HasPrefix(k.String(), k.Prefix()+"|") {
			t.Errorf("%q does not start with its prefix %q", k.String(), k.Prefix())
		}
	}
	for _, bad := range []string{"", "g|t|0", "g|t|0|1.0|x", "g|t|0|1.0|w", "g|t|0|1|c", "g|t|-1|1.0|c", "g||0|1.0|c", "t|0|1.0|c|", "g|t|0|a.b|c"} {
		if k, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) = %+v, want not a key", bad, k)
		}
	}
	if !(Incarnation{1, 9}).Less(Incarnation{2, 0}) || !(Incarnation{2, 0}).Less(Incarnation{2, 1}) || (Incarnation{2, 1}).Less(Incarnation{2, 1}) {
		t.Error("incarnations order by epoch, then generation")
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	c := &Checkpoint{Incarnation: Incarnation{7, 3}, Seq: 12, NextOffset: 123456, WrittenAt: time.UnixMilli(1_767_268_800_123).UTC(),
		Engine: []byte{5, 1, 2, 3}, Windows: []WindowRef{{Start: -60_000, Seq: 1}, {Start: 1_767_268_800_000, Seq: 12}},
		Pending: []Record{{Key: []byte("k"), Value: []byte(`{"a":1}`)}, {Key: []byte{}, Value: []byte{}}}}
	b := EncodeCheckpoint(nil, c)
	got, err := DecodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
	for n := range b {
		if _, err := DecodeCheckpoint(b[:n]); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := DecodeCheckpoint(append(b, 0)); err == nil {
		t.Fatal("a record with trailing bytes decoded")
	}
	w := EncodeWindow(nil, 12, []byte("state"))
	seq, state, err := DecodeWindow(w)
	if err != nil || seq != 12 || !bytes.Equal(state, []byte("state")) {
		t.Fatalf("window record: %d %q %v", seq, state, err)
	}
	if _, _, err := DecodeWindow(b); err == nil {
		t.Fatal("a checkpoint record decoded as a window record")
	}
	if _, err := DecodeCheckpoint(w); err == nil {
		t.Fatal("a window record decoded as a checkpoint record")
	}
}
