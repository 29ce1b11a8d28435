package window

import (
	"cmp"
	"math"
	"slices"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
)

// funnelBits are the session bits of the funnel steps, in aggregate.FunnelSteps order.
var funnelBits = [...]uint8{1 << 0, 1 << 1, 1 << 2, 1 << 3}

func funnelBit(t event.Type) uint8 {
	switch t {
	case event.ProductView:
		return funnelBits[0]
	case event.AddToCart:
		return funnelBits[1]
	case event.CheckoutStarted:
		return funnelBits[2]
	case event.OrderPlaced:
		return funnelBits[3]
	}
	return 0
}

// win is one window's state. Its memory is bounded by its distinct keys:
// users, sessions, event ids, products and currencies.
type win struct {
	start     int64
	startText string // start and end as records print them, formatted once
	endText   string
	fired     bool // the watermark has passed the window's end
	dirty     bool // changed since it was last published
	revision  int64
	events    int64
	byType    [event.NumTypes]int64
	users     map[string]struct{}
	ids       map[[16]byte]struct{}
	// Counters live in slices indexed through the maps: updating an existing
	// key is then a lookup, which does not allocate, where m[string(b)] = v
	// copies the key every time.
	sessionIdx   map[string]int32 // session -> index in sessionBits
	sessionBits  []uint8          // funnel step bits per session
	productIdx   map[string]int32 // product -> index in productN
	productN     []int64          // product views per product
	products     []string         // productIdx's keys, ascending
	revenue      moneys
	refunded     moneys
	lateAccepted int64
	duplicates   int64
}

func newWin(start int64) *win { return newWinLike(start, nil) }

// newWinLike returns an empty window whose maps have room for as many keys
// as like holds (nil: none): a window's maps grow to thousands of keys
// within seconds, and each growth step rehashes every key so far, where
// consecutive windows of a stream are of a size.
func newWinLike(start int64, like *win) *win {
	var users, ids, sessions, products int
	if like != nil {
		users, ids, sessions, products = len(like.users), len(like.ids), len(like.sessionIdx), len(like.productIdx)
	}
	return &win{
		start:       start,
		users:       make(map[string]struct{}, users),
		ids:         make(map[[16]byte]struct{}, ids),
		sessionIdx:  make(map[string]int32, sessions),
		sessionBits: make([]uint8, 0, sessions),
		productIdx:  make(map[string]int32, products),
	}
}

// add counts a new event; its id is already in w.ids (Engine.Apply).
func (w *win) add(ev *event.Event) {
	w.events++
	w.byType[ev.Type]++
	// m[string(b)] lookups do not allocate; only a new key is copied.
	if _, ok := w.users[string(ev.UserID)]; !ok {
		w.users[string(ev.UserID)] = struct{}{}
	}
	w.addSession(ev.SessionID, funnelBit(ev.Type))
	switch ev.Type {
	case event.ProductView:
		w.addProductViews(ev.ProductID, 1)
	case event.OrderPlaced:
		w.revenue.add(ev.Currency, ev.AmountMinor)
	case event.OrderRefunded:
		w.refunded.add(ev.Currency, ev.AmountMinor)
	}
}

// addProductViews counts n views of product p; a new product is copied once
// and takes its place in the sorted key list.
func (w *win) addProductViews(p []byte, n int64) {
	if i, ok := w.productIdx[string(p)]; ok {
		w.productN[i] += n
		return
	}
	k := string(p)
	w.productIdx[k] = int32(len(w.productN))
	w.productN = append(w.productN, n)
	i, _ := slices.BinarySearch(w.products, k)
	w.products = slices.Insert(w.products, i, k)
}

// addSession records session s with the funnel step bits.
func (w *win) addSession(s []byte, bits uint8) {
	if i, ok := w.sessionIdx[string(s)]; ok {
		w.sessionBits[i] |= bits
		return
	}
	w.sessionIdx[string(s)] = int32(len(w.sessionBits))
	w.sessionBits = append(w.sessionBits, bits)
}

func (w *win) productViews(p string) int64 { return w.productN[w.productIdx[p]] }

// money is one currency's sum; key is the currency as a record key.
type money struct {
	key    string
	amount int64
}

// moneys are a window's sums per currency, ascending by currency. A window
// sees a handful of currencies, so a sorted slice beats a map, and it is
// already in the order records list them.
type moneys []money

func (ms *moneys) add(cur [3]byte, amount int64) {
	for i := range *ms {
		if m := &(*ms)[i]; m.key == string(cur[:]) {
			m.amount = addSaturating(m.amount, amount)
			return
		}
	}
	k := string(cur[:])
	i, _ := slices.BinarySearchFunc(*ms, k, func(m money, k string) int { return cmp.Compare(m.key, k) })
	*ms = slices.Insert(*ms, i, money{k, amount})
}

func (ms moneys) appendTo(cs []aggregate.Count) []aggregate.Count {
	for _, m := range ms {
		if m.amount != 0 {
			cs = append(cs, aggregate.Count{Key: m.key, N: m.amount})
		}
	}
	return cs
}

// addSaturating adds two non-negative amounts, sticking at the int64
// maximum instead of wrapping negative: a window summing past 9.2e18 minor
// units cannot be represented (nor stored in ClickHouse's Int64), and a
// pinned maximum is visibly wrong where a wrapped value would look plausible.
func addSaturating(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
