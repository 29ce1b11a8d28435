package deadletter

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/event"
)

func randText(rng *rand.Rand) string {
	pieces := []string{"", "late_event", `"`, `\`, "<&>", "\u2028", "\x00\n\t", "\xff", "é🙂", "events.raw.v1"}
	s := ""
	for range rng.IntN(4) {
		s += pieces[rng.IntN(len(pieces))]
	}
	return s
}

func randBytes(rng *rand.Rand) []byte {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, rng.IntN(300))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// TestAppendJSONLineMatchesMarshal: the append encoder writes exactly the
// bytes of MarshalJSONLine (encoding/json) for random letters: awkward
// strings, nil, empty and binary keys and values, optional fields present
// or not, extreme numbers.
func TestAppendJSONLineMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 5_000 {
		l := &Letter{
			Reason: event.Reason(randText(rng)), Error: randText(rng), Topic: randText(rng),
			Partition: int32(rng.Uint32()), Offset: []int64{0, -1, math.MaxInt64, rng.Int64()}[rng.IntN(4)],
			FailedAt:    time.UnixMilli(rng.Int64N(1 << 45)).Add(time.Duration(rng.IntN(1e6))),
			EventTimeMs: rng.Int64N(1<<46) - 1<<45, HasEventTime: rng.IntN(2) == 0,
			ReplayCount: rng.IntN(5), Key: randBytes(rng), Value: randBytes(rng),
		}
		want, err := l.MarshalJSONLine()
		if err != nil {
			t.Fatal(err)
		}
		if got := l.AppendJSONLine([]byte("x")); string(got) != "x"+string(want) {
			t.Fatalf("letter %d:\n got %s\nwant %s", i, got[1:], want)
		}
	}
}
