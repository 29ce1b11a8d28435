package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/window"
)

// skewScenario is issue 12's case: one valid event 9 min ahead of its
// record (inside the 10 min future bound), then 100 on-time events, each
// written when it happened.
func skewScenario() []oracle.Message {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	line := func(i int, at time.Time) []byte {
		return fmt.Appendf(nil, `{"schema_version":1,"event_id":"123e4567-e89b-12d3-a456-%012d","event_type":"page_view","event_time":%q,"user_id":"u","session_id":"s"}`,
			i, at.Format(time.RFC3339Nano))
	}
	msgs := []oracle.Message{{Offset: 0, Value: line(0, t0.Add(9*time.Minute)), TimestampMs: t0.UnixMilli()}}
	for i := 1; i <= 100; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		msgs = append(msgs, oracle.Message{Offset: int64(i), Value: line(i, at), TimestampMs: at.UnixMilli()})
	}
	return msgs
}

// TestSkewedEventDoesNotMakeOnTimeEventsLate: before the skew cap, 100 of
// the 100 on-time events were late_event dead letters.
func TestSkewedEventDoesNotMakeOnTimeEventsLate(t *testing.T) {
	msgs := skewScenario()
	p, err := NewPartition(window.DefaultConfig(), event.DefaultLimits(), 0)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[Outcome]int{}
	for _, m := range msgs {
		msg := Message{Offset: m.Offset, Value: m.Value, RefMs: m.TimestampMs}
		outcomes[p.Process(&msg, func(*aggregate.View) {}, func(*deadletter.Letter) {})]++
	}
	if outcomes[Counted] != 101 || len(outcomes) != 1 {
		t.Fatalf("outcomes %v, want all 101 counted", outcomes)
	}
	if w, _ := p.Engine.Watermark(); w != msgs[100].TimestampMs-5000 {
		t.Fatalf("W = %s, want the last on-time event − 5 s", event.FormatMillis(w))
	}
	res := oracle.Run(oracle.DefaultConfig(), 0, msgs)
	if res.Counted != 101 || len(res.DeadLetters) != 0 {
		t.Fatalf("oracle: %d counted, %d dead letters", res.Counted, len(res.DeadLetters))
	}
}
