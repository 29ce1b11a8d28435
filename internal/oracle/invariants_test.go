package oracle

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// genLog builds a messy log: disorder, allowed-late and too-late events,
// duplicates, malformed values and random bytes.
func genLog(rng *rand.Rand, n int) []Message {
	types := []string{"page_view", "product_view", "add_to_cart", "checkout_started", "order_placed", "payment_failed", "order_refunded"}
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	var out []Message
	var ids []string
	clock := base
	for i := 0; i < n; i++ {
		clock += int64(rng.Intn(400))
		ts := clock
		evMs := clock - int64(rng.Intn(8000)) // ordinary disorder
		switch r := rng.Intn(100); {
		case r < 4:
			evMs = clock - int64(rng.Intn(240000)) // allowed late or too late
		case r < 5:
			evMs = clock + int64(rng.Intn(1200000)) // maybe in the future
		}
		typ := types[rng.Intn(len(types))]
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i)
		if len(ids) > 0 && rng.Intn(100) < 5 {
			id = ids[rng.Intn(len(ids))] // duplicate (or the same id in another window)
		}
		ids = append(ids, id)
		var v string
		switch r := rng.Intn(100); {
		case r < 2:
			b := make([]byte, rng.Intn(40))
			rng.Read(b)
			v = string(b)
		case r < 4:
			v = eventJSON(typ, id, formatMs(evMs), "amount_minor", "-3")
		default:
			v = eventJSON(typ, id, formatMs(evMs),
				"user_id", fmt.Sprintf(`"u%d"`, rng.Intn(50)),
				"session_id", fmt.Sprintf(`"s%d"`, rng.Intn(80)),
				"product_id", fmt.Sprintf(`"p%d"`, rng.Intn(10)),
				"currency", []string{`"EUR"`, `"USD"`}[rng.Intn(2)],
				"amount_minor", fmt.Sprint(1+rng.Intn(100000)))
		}
		out = append(out, Message{Offset: int64(i), Value: []byte(v), TimestampMs: ts})
	}
	return out
}

type recordView struct {
	WindowStart  string         `json:"window_start"`
	Revision     int            `json:"revision"`
	Events       int            `json:"events"`
	EventsByType map[string]int `json:"events_by_type"`
	LateAccepted int            `json:"late_accepted"`
	Duplicates   int            `json:"duplicates"`
	Funnel       map[string]int `json:"funnel"`
	Sessions     int            `json:"sessions"`
}

// TestInvariants checks, on a generated log, properties that hold whatever
// the details: conservation (G1), revisions counting up by one per window,
// final records adding up to the run's totals.
func TestInvariants(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	log := genLog(rng, 3000)
	res := Run(DefaultConfig(), 0, log)

	if got := res.Counted + res.Duplicates + len(res.DeadLetters); got != len(log) {
		t.Fatalf("conservation: counted %d + duplicates %d + dead %d = %d, want %d",
			res.Counted, res.Duplicates, len(res.DeadLetters), got, len(log))
	}
	reasons := map[string]int{}
	for i, d := range res.DeadLetters {
		reasons[d.Reason]++
		if i > 0 && d.Offset <= res.DeadLetters[i-1].Offset {
			t.Fatalf("dead letters out of offset order at %d", i)
		}
	}
	for _, r := range []string{ReasonInvalidJSON, ReasonSchemaViolation, ReasonFutureEvent, ReasonLateEvent} {
		if reasons[r] == 0 {
			t.Errorf("generated log produced no %s; the generator lost its teeth", r)
		}
	}

	lastRev := map[string]int{}
	for _, e := range res.Emissions {
		var r recordView
		if err := json.Unmarshal(e, &r); err != nil {
			t.Fatalf("emission %s: %v", e, err)
		}
		if r.Revision != lastRev[r.WindowStart]+1 {
			t.Fatalf("window %s: revision %d after %d", r.WindowStart, r.Revision, lastRev[r.WindowStart])
		}
		lastRev[r.WindowStart] = r.Revision
	}

	events, dups, lateAccepted := 0, 0, 0
	for start, e := range res.Final {
		var r recordView
		if err := json.Unmarshal(e, &r); err != nil {
			t.Fatal(err)
		}
		if r.WindowStart != start || r.Revision != lastRev[start] {
			t.Errorf("Final[%s] is not the last emission of its window", start)
		}
		sum := 0
		for _, c := range r.EventsByType {
			sum += c
		}
		if sum != r.Events {
			t.Errorf("window %s: events_by_type sums to %d, events %d", start, sum, r.Events)
		}
		for step, c := range r.Funnel {
			if c > r.Sessions || c > r.EventsByType[step] {
				t.Errorf("window %s: funnel %s = %d exceeds sessions or events", start, step, c)
			}
		}
		events += r.Events
		dups += r.Duplicates
		lateAccepted += r.LateAccepted
	}
	if events != res.Counted || dups != res.Duplicates {
		t.Errorf("final records hold %d events and %d duplicates, run counted %d and %d", events, dups, res.Counted, res.Duplicates)
	}
	if lateAccepted == 0 {
		t.Errorf("generated log produced no late acceptance")
	}
}

// TestLargeLogIsFastEnough guards the test budget: the naive oracle is
// quadratic in places, and S1-style tests run it on ~20k messages.
func TestLargeLogIsFastEnough(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	log := genLog(rand.New(rand.NewSource(2)), 20000)
	start := time.Now()
	res := Run(DefaultConfig(), 0, log)
	// Generous: about 0.3 s plain and 1.5 s under -race on 2 cores; this only
	// catches an accidental blow-up, not noise.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("20k messages took %v", d)
	}
	if res.Counted+res.Duplicates+len(res.DeadLetters) != len(log) {
		t.Errorf("conservation broken on the large log")
	}
}

// FuzzRun: no input may crash the oracle, and every message gets exactly
// one outcome.
func FuzzRun(f *testing.F) {
	f.Add([]byte(eventJSON("order_placed", uuidN(1), t0)), []byte(`{"schema_version":2}`), int64(0))
	f.Add([]byte("\xff"), []byte(`{"schema_version":1e0}`), int64(-1))
	f.Fuzz(func(t *testing.T, a, b []byte, ts int64) {
		log := []Message{{0, a, ts, false}, {1, b, ts, false}, {2, a, ts, true}}
		res := Run(DefaultConfig(), 0, log)
		if res.Counted+res.Duplicates+len(res.DeadLetters) != len(log) {
			t.Fatalf("conservation broken: %+v", res)
		}
	})
}
