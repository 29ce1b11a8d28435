package gen

import (
	"fmt"
	"math/rand/v2"
)

// The static world the sessions live in: users, products and prices. It is
// built once from the seeded RNG, so it is part of the deterministic output.

// Everything here is integer arithmetic: floating-point results (math.Pow,
// fused multiply-adds on arm64) may differ in the last bit between CPU
// architectures, and one such bit would change every later message.

type currency struct {
	code string
	// perMilleOfEURCent converts a price in euro cents to this currency's
	// minor unit, in thousandths (JPY has no minor unit, so its "minor"
	// unit is the yen).
	perMilleOfEURCent int64
	// roundTo is the price granularity in minor units: prices end in .99
	// for cent currencies and in whole tens for yen.
	roundTo int64
}

var currencies = []currency{
	{"EUR", 1000, 100},
	{"USD", 1080, 100},
	{"GBP", 850, 100},
	{"JPY", 1620, 10},
	{"CHF", 950, 100},
	{"SEK", 11500, 100},
	{"PLN", 4300, 100},
	{"CAD", 1470, 100},
	{"AUD", 1650, 100},
}

// Base prices in euro cents, spaced roughly evenly on a log scale between 5
// and 500 euros, like a real shop: many cheap items, a few expensive ones.
var eurPrices = []int64{
	500, 700, 900, 1200, 1500, 1900, 2500, 2900, 3500, 4500,
	5900, 7500, 9900, 12900, 15900, 19900, 24900, 29900, 39900, 49900,
}

type country struct {
	code     string
	currency int // index into currencies
	weight   int
}

var countries = []country{
	{"DE", 0, 22}, {"FR", 0, 14}, {"NL", 0, 6}, {"ES", 0, 7}, {"IT", 0, 7},
	{"US", 1, 18}, {"GB", 2, 9}, {"JP", 3, 5}, {"CH", 4, 2}, {"SE", 5, 2},
	{"PL", 6, 3}, {"CA", 7, 3}, {"AU", 8, 2},
}

type device struct {
	name   string
	weight int
}

var devices = []device{{"desktop", 45}, {"mobile", 45}, {"tablet", 10}}

var categories = []string{
	"shoes", "jackets", "bags", "watches", "electronics",
	"kitchen", "books", "toys", "beauty", "garden",
}

var referrers = []string{
	"https://www.google.com/",
	"https://www.bing.com/",
	"https://duckduckgo.com/",
	"https://t.co/x7Yq2",
	"https://www.facebook.com/",
	"https://www.instagram.com/",
	"https://newsletter.example.com/?utm_source=mail&utm_campaign=winter",
}

// Search pages carry free text, including quotes, a backslash and non-ASCII
// letters, so that consumers meet escaped and multi-byte strings in valid
// events too.
var searchPages = []string{
	"/search?q=running shoes",
	"/search?q=café mugs",
	"/search?q=\"noise cancelling\" headphones",
	"/search?q=über bag",
	"/search?q=日本茶",
	"/search?q=c:\\temp backpack",
	"/search?q=50% off",
}

var landingPages = []string{"/", "/", "/", "/deals", "/new", "/account"}

type product struct {
	id       string
	page     string
	category int
	price    []int64 // per currency index, in minor units
}

type user struct {
	id       string
	key      []byte // id as bytes, copied into each message's key
	country  int
	currency int
	device   int
}

type world struct {
	products []product
	// popular maps a popularity rank to a product, so that the most viewed
	// product is not simply the first in the catalogue; popCum holds the
	// cumulative Zipf weights (1/(rank+3)) of the ranks.
	popular  []int
	popCum   []int64
	popTotal int64
	users    []user
	catPage  []string
}

const numProducts = 200

func weighted[T any](r *rand.Rand, items []T, weight func(T) int) int {
	total := 0
	for _, it := range items {
		total += weight(it)
	}
	n := r.IntN(total)
	for i, it := range items {
		n -= weight(it)
		if n < 0 {
			return i
		}
	}
	return len(items) - 1
}

func newWorld(r *rand.Rand, users int) *world {
	w := &world{
		products: make([]product, numProducts),
		users:    make([]user, users),
		catPage:  make([]string, len(categories)),
	}
	for i, c := range categories {
		w.catPage[i] = "/c/" + c
	}
	for i := range w.products {
		eurCents := eurPrices[r.IntN(len(eurPrices))]
		p := product{
			id:       fmt.Sprintf("sku-%05d", 10000+i),
			category: r.IntN(len(categories)),
			price:    make([]int64, len(currencies)),
		}
		p.page = "/p/" + p.id
		for ci, c := range currencies {
			p.price[ci] = localPrice(eurCents, c)
		}
		w.products[i] = p
	}
	w.popular = r.Perm(numProducts)
	w.popCum = make([]int64, numProducts)
	for rank := range w.popCum {
		w.popTotal += 1_000_000 / int64(rank+3)
		w.popCum[rank] = w.popTotal
	}
	for i := range w.users {
		ci := weighted(r, countries, func(c country) int { return c.weight })
		id := fmt.Sprintf("user-%06d", i+1)
		w.users[i] = user{
			id:       id,
			key:      []byte(id),
			country:  ci,
			currency: countries[ci].currency,
			device:   weighted(r, devices, func(d device) int { return d.weight }),
		}
	}
	return w
}

// localPrice converts and rounds up to shop-style prices: 19.99, not 19.37.
func localPrice(eurCents int64, c currency) int64 {
	minor := eurCents * c.perMilleOfEURCent
	unit := 1000 * c.roundTo
	v := (minor + unit - 1) / unit * c.roundTo
	if c.roundTo == 100 {
		v--
	}
	return max(v, 1)
}
