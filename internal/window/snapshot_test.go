package window

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

// awkward are ids that exercise every form of the key encoding: canonical
// UUIDs, UUID look-alikes that must stay text, shared prefixes, the empty
// string and bytes that are not UTF-8.
var awkward = []string{
	"0608ddcc-2a39-42c8-8655-d7f23d7a63be", "0608DDCC-2A39-42C8-8655-D7F23D7A63BE", "0608ddcc-2a39-42c8-8655-d7f23d7a63bg",
	"{0608ddcc-2a39-42c8-8655-d7f23d7a63be}", "0608ddcc2a3942c88655d7f23d7a63be", "user-000001", "user-000002", "user-1",
	"", "u", "\xff\xfe", "0608ddcc-2a39-42c8-8655-d7f23d7a63b", "ffffffff-ffff-ffff-ffff-ffffffffffff", "00000000-0000-0000-0000-000000000000",
}

// randomEngine feeds an engine a random partition log: events across a
// few windows, duplicates, late and replayed events, awkward ids.
func randomEngine(t testing.TB, rng *rand.Rand, n int) (*Engine, func(int) *event.Event) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AllowedLatenessMs, cfg.ReplayRetentionMs, cfg.CoalesceOffsets = 90_000, 120_000, int64(1+rng.IntN(20))
	e, err := New(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	types := []event.Type{event.PageView, event.ProductView, event.AddToCart, event.CheckoutStarted, event.OrderPlaced, event.PaymentFailed, event.OrderRefunded}
	var seen []*event.Event
	next := func(i int) *event.Event {
		if len(seen) > 0 && rng.IntN(10) == 0 {
			return seen[rng.IntN(len(seen))] // a duplicate
		}
		x := &event.Event{Type: types[rng.IntN(len(types))], TimeMs: noon + int64(i)*700 - rng.Int64N(150_000),
			UserID: []byte(awkward[rng.IntN(len(awkward))]), SessionID: []byte(awkward[rng.IntN(len(awkward))])}
		for j := range x.ID {
			x.ID[j] = byte(rng.IntN(256))
		}
		switch x.Type {
		case event.ProductView, event.AddToCart:
			x.ProductID = []byte(awkward[rng.IntN(len(awkward))])
		case event.OrderPlaced, event.PaymentFailed, event.OrderRefunded:
			x.OrderID, x.AmountMinor = []byte("o"), rng.Int64N(1_000_000)
			x.Currency = [][3]byte{{'E', 'U', 'R'}, {'J', 'P', 'Y'}, {'U', 'S', 'D'}}[rng.IntN(3)]
		}
		seen = append(seen, x)
		return x
	}
	for i := range n {
		e.Apply(next(i), Source{Offset: int64(i), TimestampMs: noon + int64(i)*700, Replay: rng.IntN(20) == 0}, func(*aggregate.View) {})
	}
	return e, next
}

// canon describes a window's whole state in a canonical order.
func canon(w *win) string {
	var b strings.Builder
	fmt.Fprintf(&b, "start %d fired %v dirty %v rev %d events %d late %d dup %d types %v\n", w.start, w.fired, w.dirty, w.revision, w.events, w.lateAccepted, w.duplicates, w.byType)
	var ids []string
	for id := range w.ids {
		ids = append(ids, fmt.Sprintf("%x", id))
	}
	slices.Sort(ids)
	var users []string
	for u := range w.users {
		users = append(users, fmt.Sprintf("%q", u))
	}
	slices.Sort(users)
	var sessions []string
	for s, i := range w.sessionIdx {
		sessions = append(sessions, fmt.Sprintf("%q=%d", s, w.sessionBits[i]))
	}
	slices.Sort(sessions)
	var products []string
	for _, p := range w.products {
		products = append(products, fmt.Sprintf("%q=%d", p, w.productViews(p)))
	}
	fmt.Fprintf(&b, "ids %v\nusers %v\nsessions %v\nproducts %v\nrevenue %v refunded %v\n", ids, users, sessions, products, w.revenue, w.refunded)
	return b.String()
}

func canonEngine(e *Engine) string {
	starts := make([]int64, 0, len(e.windows))
	for s := range e.windows {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	var b strings.Builder
	fmt.Fprintf(&b, "max %v %d range end %d pending %v retained %v changes %d\n", e.hasMax, e.maxTime, e.rangeEnd, e.pending, e.retained, e.changes)
	for _, s := range starts {
		b.WriteString(canon(e.windows[s]))
	}
	return b.String()
}

// TestStatePartsRoundTrip: the meta and every window's part give back the
// very same state, and an engine restored from them goes on to emit exactly
// what the original emits.
func TestStatePartsRoundTrip(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 1))
		e, next := randomEngine(t, rng, 200+rng.IntN(400))
		meta := e.AppendMeta(nil)
		var parts [][]byte
		e.Versions(func(start int64, _ Version) {
			b, ok := e.AppendWindow(nil, start)
			if !ok {
				t.Fatalf("seed %d: window %d listed but not encoded", seed, start)
			}
			parts = append(parts, b)
		})
		r, err := RestoreParts(e.Config(), 2, meta, parts...)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got, want := canonEngine(r), canonEngine(e); got != want {
			t.Fatalf("seed %d: restored state differs\n got %s\nwant %s", seed, got, want)
		}
		var a, b collector
		for i := 1000; i < 1300; i++ {
			x := next(i)
			src := Source{Offset: int64(i), TimestampMs: noon + int64(i)*700}
			if oa, ob := e.Apply(x, src, a.emit), r.Apply(x, src, b.emit); oa != ob {
				t.Fatalf("seed %d: outcomes %v vs %v", seed, oa, ob)
			}
		}
		e.Flush(a.emit)
		r.Flush(b.emit)
		if ga, gb := a.take(), b.take(); ga != gb || ga == "" {
			t.Fatalf("seed %d: emissions after the restore differ:\n%s\n%s", seed, ga, gb)
		}
		// The whole-state form says the same.
		snap, _ := e.Snapshot()
		if s, err := Restore(e.Config(), 2, snap); err != nil || canonEngine(s) != canonEngine(e) {
			t.Fatalf("seed %d: Snapshot/Restore: %v", seed, err)
		}
	}
}

// TestVersionChangesWithItsWindow: a window's Version changes exactly when
// its state does, so a checkpoint that writes the windows whose Version
// changed writes every change and nothing else.
func TestVersionChangesWithItsWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	e, next := randomEngine(t, rng, 100)
	snapshot := func() (map[int64]Version, map[int64]string) {
		vs, cs := map[int64]Version{}, map[int64]string{}
		e.Versions(func(start int64, v Version) { vs[start], cs[start] = v, canon(e.windows[start]) })
		return vs, cs
	}
	vs, cs := snapshot()
	changed, same := 0, 0
	for i := 100; i < 1500; i++ {
		e.Apply(next(i), Source{Offset: int64(i), TimestampMs: noon + int64(i)*700, Replay: rng.IntN(10) == 0}, func(*aggregate.View) {})
		if i%97 == 0 {
			e.Flush(func(*aggregate.View) {})
		}
		nv, nc := snapshot()
		for start, v := range nv {
			old, ok := vs[start]
			if (ok && old == v) != (cs[start] == nc[start]) {
				t.Fatalf("event %d: window %d: version %+v -> %+v, state changed: %v", i, start, old, v, cs[start] != nc[start])
			}
			if ok && old == v {
				same++
			} else {
				changed++
			}
		}
		vs, cs = nv, nc
	}
	if changed == 0 || same == 0 {
		t.Fatalf("%d changes, %d unchanged windows: the test proves nothing", changed, same)
	}
}

// TestStateRefusesOtherSettingsAndVersions: a state saved with other
// window settings, for another partition, or by another encoding version
// is refused, and the error says how to start over.
func TestStateRefusesOtherSettingsAndVersions(t *testing.T) {
	e, _ := randomEngine(t, rand.New(rand.NewPCG(3, 3)), 50)
	meta := e.AppendMeta(nil)
	other := e.Config()
	other.CoalesceOffsets++
	if _, err := RestoreParts(other, 2, meta); err == nil || !strings.Contains(err.Error(), "--state-topic") {
		t.Fatalf("other settings: %v", err)
	}
	if _, err := RestoreParts(e.Config(), 1, meta); err == nil {
		t.Fatal("restored another partition's state")
	}
	old := append([]byte{stateVersion - 1}, meta[1:]...)
	if _, err := RestoreParts(e.Config(), 2, old); err == nil || !strings.Contains(err.Error(), "another version") {
		t.Fatalf("another version: %v", err)
	}
}

// FuzzRestoreParts: no byte string makes restoring panic or allocate beyond
// its input; whatever decodes re-encodes to a state that decodes the same.
func FuzzRestoreParts(f *testing.F) {
	e, _ := randomEngine(f, rand.New(rand.NewPCG(5, 5)), 60)
	meta := e.AppendMeta(nil)
	e.Versions(func(start int64, _ Version) {
		b, _ := e.AppendWindow(nil, start)
		f.Add(meta, b)
	})
	f.Fuzz(func(t *testing.T, meta, part []byte) {
		m, err := ReadMeta(meta)
		if err != nil {
			return
		}
		r, err := RestoreParts(m.Config, m.Partition, meta, part)
		if err != nil {
			return
		}
		again, _ := r.Snapshot()
		r2, err := Restore(m.Config, m.Partition, again)
		if err != nil || canonEngine(r2) != canonEngine(r) {
			t.Fatalf("a decoded state does not survive its own encoding: %v", err)
		}
	})
}
