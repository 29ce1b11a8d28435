package deadletter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"

	"github.com/streamlab/streamlab/internal/event"
)

func sample() *Letter {
	return &Letter{Reason: event.LateEvent, Error: "too late", Topic: "events.raw.v1", Partition: 2, Offset: 41,
		FailedAt: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), EventTimeMs: 1767261600000, HasEventTime: true,
		ReplayCount: 1, Key: []byte("user-1"), Value: []byte(`{"schema_version":1}`),
		RawHeaders: []Header{{Key: "trace", Value: []byte("t1")}, {Key: "empty", Value: []byte{}}, {Key: "null"}}}
}

// same compares byte strings telling null from empty.
func same(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// TestRoundTrip: a dead letter read back from its DLQ record is the letter
// written, null and empty keys, values and header values included, the
// raw record's own headers in order.
func TestRoundTrip(t *testing.T) {
	for _, kv := range [][2][]byte{{nil, nil}, {{}, {}}, {nil, {}}, {{}, nil}, {[]byte("k"), []byte("v")}} {
		l := sample()
		l.Key, l.Value = kv[0], kv[1]
		got, err := FromMessage(l.Message())
		if err != nil {
			t.Fatal(err)
		}
		if !same(got.Key, l.Key) || !same(got.Value, l.Value) {
			t.Errorf("key %#v value %#v came back as %#v %#v", l.Key, l.Value, got.Key, got.Value)
		}
		if got.Reason != l.Reason || got.Error != l.Error || got.Topic != l.Topic || got.Partition != l.Partition || got.Offset != l.Offset ||
			!got.FailedAt.Equal(l.FailedAt) || got.EventTimeMs != l.EventTimeMs || !got.HasEventTime || got.ReplayCount != 1 || got.Truncated() {
			t.Errorf("context: %+v, want %+v", got, l)
		}
		if len(got.RawHeaders) != 3 {
			t.Fatalf("raw headers %v", got.RawHeaders)
		}
		for i, h := range l.RawHeaders {
			if got.RawHeaders[i].Key != h.Key || !same(got.RawHeaders[i].Value, h.Value) {
				t.Errorf("raw header %d: %v, want %v", i, got.RawHeaders[i], h)
			}
		}
	}
}

// TestOwnHeadersDropSpoofedContext: dlq.* headers are the processor's; a
// raw record's own are kept, in order, its dlq.* ones never.
func TestOwnHeadersDropSpoofedContext(t *testing.T) {
	raw := []Header{{Key: "a", Value: []byte("1")}, {Key: HeaderReason, Value: []byte("counted")}, {Key: "b"}, {Key: HeaderSourceOffset, Value: []byte("0")}}
	own := OwnHeaders(raw)
	if len(own) != 2 || own[0].Key != "a" || own[1].Key != "b" {
		t.Fatalf("own headers %v", own)
	}
	if clean := raw[:1]; &OwnHeaders(clean)[0] != &clean[0] {
		t.Error("OwnHeaders copies headers it keeps whole")
	}
	l := sample()
	l.RawHeaders = own
	got, err := FromMessage(l.Message())
	if err != nil || got.Reason != event.LateEvent || got.Offset != 41 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestFromHeadersRejects(t *testing.T) {
	l := sample()
	hs := l.Headers()
	for _, drop := range []string{HeaderReason, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset} {
		var kept []Header
		for _, h := range hs {
			if h.Key != drop {
				kept = append(kept, h)
			}
		}
		if _, err := FromHeaders(nil, nil, kept); err == nil || !strings.Contains(err.Error(), drop) {
			t.Errorf("without %s: %v", drop, err)
		}
	}
	bad := append(hs[:len(hs):len(hs)], Header{Key: HeaderTruncatedFrom, Value: []byte("10")})
	if _, err := FromHeaders(nil, nil, bad); err == nil {
		t.Error("a size without a checksum accepted")
	}
	bad = append(hs[:len(hs):len(hs)], Header{Key: HeaderSourceOffset, Value: []byte("x")})
	if _, err := FromHeaders(nil, nil, bad); err == nil {
		t.Error("a non-numeric offset accepted")
	}
}

func TestReplayCount(t *testing.T) {
	for _, tc := range []struct {
		hs   []Header
		want int
	}{
		{nil, 0},
		{[]Header{{Key: HeaderReplayCount, Value: []byte("2")}}, 2},
		{[]Header{{Key: HeaderReplayCount, Value: []byte("-1")}}, 0},
		{[]Header{{Key: HeaderReplayCount, Value: []byte("x")}}, 0},
	} {
		if got := ReplayCount(tc.hs); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.hs, got, tc.want)
		}
	}
}

// TestReplayMessage: the original key, value and own headers byte for
// byte, into the source partition, the replay count one up and the way
// back to the dead letter.
func TestReplayMessage(t *testing.T) {
	l := sample()
	l.Value = []byte{}
	m, err := l.ReplayMessage("events.dlq.v1/0/7")
	if err != nil {
		t.Fatal(err)
	}
	if m.Partition != 2 || m.Topic != "" || !same(m.Key, l.Key) || !same(m.Value, []byte{}) {
		t.Fatalf("replay %+v", m)
	}
	h := map[string][]byte{}
	for _, x := range m.Headers {
		h[x.Key] = x.Value
	}
	if string(h[HeaderReplayCount]) != "2" || string(h[HeaderReplayOf]) != "events.dlq.v1/0/7" || string(h[HeaderSourcePartition]) != "2" ||
		string(h[HeaderSourceOffset]) != "41" || string(h["trace"]) != "t1" || !same(h["empty"], []byte{}) || ReplayCount(m.Headers) != 2 {
		t.Fatalf("headers %v", m.Headers)
	}
}

// encodedSize is the size of l's DLQ record in a batch of its own, as
// kafka-go puts it on the wire.
func encodedSize(t *testing.T, l *Letter) int {
	t.Helper()
	m := l.Message()
	rec := protocol.Record{Time: time.Now(), Headers: m.Headers}
	if m.Key != nil {
		rec.Key = protocol.NewBytes(m.Key)
	}
	if m.Value != nil {
		rec.Value = protocol.NewBytes(m.Value)
	}
	rs := protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(rec)}
	var b bytes.Buffer
	if _, err := rs.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Len()
}

// TestTruncate: a letter too big for the DLQ topic is cut to fit, and says
// so with its original size and SHA-256; it then cannot be replayed.
func TestTruncate(t *testing.T) {
	l := sample()
	l.Value = bytes.Repeat([]byte("v"), 10_000)
	orig := sha256.Sum256(l.Value)
	if size, enc := l.Size(), encodedSize(t, l); size < enc || size > enc+150 {
		t.Fatalf("Size %d for an encoded batch of %d bytes", size, enc)
	}
	if cut, err := l.Truncate(l.Size()); cut || err != nil {
		t.Fatalf("a letter that fits was cut: %v %v", cut, err)
	}
	const limit = 4000
	cut, err := l.Truncate(limit)
	if !cut || err != nil {
		t.Fatal(cut, err)
	}
	if l.Size() > limit || l.Size() < limit-10 || encodedSize(t, l) > limit {
		t.Fatalf("cut to %d bytes (encoded %d) for a limit of %d", l.Size(), encodedSize(t, l), limit)
	}
	got, err := FromMessage(l.Message())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated() || got.OriginalValueBytes != 10_000 || got.OriginalValueSHA256 != hex.EncodeToString(orig[:]) || !bytes.Equal(got.Value, l.Value) {
		t.Fatalf("truncated letter read back: %d bytes of %d, sha %s", len(got.Value), got.OriginalValueBytes, got.OriginalValueSHA256)
	}
	if !strings.Contains(got.TruncationNote(), "value cut from 10000 to") {
		t.Fatal(got.TruncationNote())
	}
	if _, err := got.ReplayMessage("x"); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("a truncated letter replayed: %v", err)
	}
	// Cutting again keeps the original's size and checksum.
	if _, err := got.Truncate(limit - 100); err != nil || got.OriginalValueBytes != 10_000 {
		t.Fatalf("second cut: %v, original %d", err, got.OriginalValueBytes)
	}
	// Nothing to cut: the key alone is over the limit.
	huge := sample()
	huge.Key = bytes.Repeat([]byte("k"), 5000)
	if _, err := huge.Truncate(limit); err == nil || !strings.Contains(err.Error(), "max.message.bytes") {
		t.Fatalf("huge key: %v", err)
	}
}
