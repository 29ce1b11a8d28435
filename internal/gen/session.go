package gen

import (
	"container/heap"
	"time"
)

// Funnel drop-off, per step: share of sessions that go on to the next step.
const (
	pBrowse        = 0.60 // sessions that view at least one product
	pCart          = 0.30 // of those, sessions that add to cart
	pCheckout      = 0.50 // of those, sessions that start checkout
	pOrder         = 0.70 // of those, sessions that place an order
	pPaymentFailed = 0.05 // orders whose payment later fails
	pRefund        = 0.03 // orders refunded later (exclusive with failures)
)

type phase uint8

const (
	phLanding phase = iota
	phBounce        // extra page views of a session that never views a product
	phBrowse        // product views, with the odd category page in between
	phCart          // add_to_cart events
	phCheckout
	phOrder
)

const maxViewed = 8

// session is one user's visit, walking the funnel one event per step.
type session struct {
	user     int32
	id       string
	phase    phase
	left     int8 // steps left in the current phase
	lastPage bool // last browse step was a category page
	nViewed  int8
	viewed   [maxViewed]int16
	cart     int64 // running order total in the user's currency
	device   bool  // whether this session's events carry the optional fields
	country  bool
	referrer string // sent with the landing page only
}

// startSession begins a visit for a user who has none running. Users are
// drawn at random; the retry loop terminates quickly because at most a fifth
// of the population is ever busy.
func (g *Generator) startSession(s *session) {
	u := g.rng.IntN(len(g.w.users))
	for g.busy[u] {
		u = g.rng.IntN(len(g.w.users))
	}
	g.busy[u] = true
	*s = session{
		user:    int32(u),
		id:      uuidString(newUUID(g.rng.Uint64(), g.rng.Uint64())),
		device:  g.rng.Float64() < 0.85,
		country: g.rng.Float64() < 0.75,
	}
	if g.rng.Float64() < 0.4 {
		s.referrer = referrers[g.rng.IntN(len(referrers))]
	}
}

func (g *Generator) endSession(s *session) {
	g.busy[s.user] = false
	g.startSession(s)
}

// identity fills the fields every event of a session shares.
func (g *Generator) identity(ev *event, s *session) *user {
	u := &g.w.users[s.user]
	ev.user = s.user
	ev.userID = u.id
	ev.sessionID = s.id
	if s.device {
		ev.device = devices[u.device].name
	}
	if s.country {
		ev.country = countries[u.country].code
	}
	return u
}

func (g *Generator) popularProduct() int {
	r := int64(g.rng.Uint64N(uint64(g.w.popTotal)))
	// Binary search for the first rank whose cumulative weight exceeds r.
	lo, hi := 0, len(g.w.popCum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if g.w.popCum[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return g.w.popular[lo]
}

// geometric returns 1 + the number of successes before the first failure,
// capped at max: small counts are common, long streaks rare.
func (g *Generator) geometric(pMore float64, max int) int8 {
	n := 1
	for n < max && g.rng.Float64() < pMore {
		n++
	}
	return int8(n)
}

// step fills ev with the session's next event and reports whether the
// session is over. It does not set event_id or event_time.
func (g *Generator) step(s *session, ev *event) (done bool) {
	done = g.funnelStep(s, ev)
	// page is optional: some clients do not send it.
	if g.rng.Float64() < 0.1 {
		ev.page = ""
	}
	return done
}

func (g *Generator) funnelStep(s *session, ev *event) (done bool) {
	u := g.identity(ev, s)
	switch s.phase {
	case phLanding:
		ev.typ = pageView
		ev.referrer = s.referrer
		if g.rng.Float64() < 0.2 {
			ev.page = searchPages[g.rng.IntN(len(searchPages))]
		} else {
			ev.page = landingPages[g.rng.IntN(len(landingPages))]
		}
		if g.rng.Float64() < pBrowse {
			s.phase, s.left = phBrowse, g.geometric(0.55, maxViewed)
			return false
		}
		s.phase, s.left = phBounce, int8(g.rng.IntN(3))
		return s.left == 0

	case phBounce:
		ev.typ = pageView
		ev.page = g.w.catPage[g.rng.IntN(len(g.w.catPage))]
		s.left--
		return s.left <= 0

	case phBrowse:
		if !s.lastPage && s.nViewed > 0 && g.rng.Float64() < 0.25 {
			s.lastPage = true
			ev.typ = pageView
			ev.page = g.w.catPage[g.rng.IntN(len(g.w.catPage))]
			return false
		}
		s.lastPage = false
		p := g.popularProduct()
		if s.nViewed < maxViewed {
			s.viewed[s.nViewed] = int16(p)
			s.nViewed++
		}
		ev.typ = productView
		ev.productID = g.w.products[p].id
		ev.page = g.w.products[p].page
		s.left--
		if s.left > 0 {
			return false
		}
		if g.rng.Float64() < pCart {
			s.phase, s.left = phCart, g.geometric(0.3, 3)
			return false
		}
		return true

	case phCart:
		p := int(s.viewed[g.rng.IntN(int(s.nViewed))])
		qty := 1
		if g.rng.Float64() < 0.15 {
			qty = 2 + g.rng.IntN(2)
		}
		ev.typ = addToCart
		ev.productID = g.w.products[p].id
		ev.quantity = qty
		ev.page = g.w.products[p].page
		s.cart += g.w.products[p].price[u.currency] * int64(qty)
		s.left--
		if s.left > 0 {
			return false
		}
		if g.rng.Float64() < pCheckout {
			s.phase = phCheckout
			return false
		}
		return true

	case phCheckout:
		ev.typ = checkoutStarted
		ev.page = "/checkout"
		if g.rng.Float64() < pOrder {
			s.phase = phOrder
			return false
		}
		return true

	default: // phOrder
		ev.typ = orderPlaced
		ev.page = "/checkout/confirmation"
		ev.orderID = "ord-" + uuidString(newUUID(g.rng.Uint64(), g.rng.Uint64()))
		ev.amount = s.cart
		ev.currency = currencies[u.currency].code
		g.scheduleFollowUp(s, ev)
		return true
	}
}

// scheduleFollowUp queues the rare payment failure or refund that arrives
// well after the order, from the back office rather than the browser.
func (g *Generator) scheduleFollowUp(s *session, ev *event) {
	r := g.rng.Float64()
	var f followUp
	switch {
	case r < pPaymentFailed:
		f.typ = paymentFailed
		f.due = g.now + int64(time.Second) + g.rng.Int64N(int64(59*time.Second))
	case r < pPaymentFailed+pRefund:
		f.typ = orderRefunded
		f.due = g.now + int64(time.Minute) + g.rng.Int64N(int64(14*time.Minute))
	default:
		return
	}
	f.user, f.sessionID, f.orderID = s.user, s.id, ev.orderID
	f.amount, f.currency = ev.amount, ev.currency
	f.device, f.country = s.device, s.country
	f.seq = g.followSeq
	g.followSeq++
	heap.Push(&g.followUps, f)
}

type followUp struct {
	due       int64
	seq       uint64 // breaks ties so the heap order never depends on luck
	typ       evType
	user      int32
	sessionID string
	orderID   string
	amount    int64
	currency  string
	device    bool
	country   bool
}

// fill builds the follow-up event.
func (f *followUp) fill(g *Generator, ev *event) {
	u := &g.w.users[f.user]
	ev.user = f.user
	ev.typ = f.typ
	ev.userID = u.id
	ev.sessionID = f.sessionID
	ev.orderID = f.orderID
	ev.amount = f.amount
	ev.currency = f.currency
	if f.device {
		ev.device = devices[u.device].name
	}
	if f.country {
		ev.country = countries[u.country].code
	}
}

type followUpHeap []followUp

func (h followUpHeap) Len() int { return len(h) }
func (h followUpHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}
func (h followUpHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *followUpHeap) Push(x any)   { *h = append(*h, x.(followUp)) }
func (h *followUpHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
