package aggregate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// reference is the encoding the append encoder must reproduce: encoding/json
// on the Record, nil maps as {} (what Marshal did before the encoder).
func reference(t testing.TB, r *Record) []byte {
	c := *r
	for _, m := range []*map[string]int64{&c.EventsByType, &c.RevenueMinor, &c.RefundedMinor, &c.Funnel, &c.ProductViews} {
		if *m == nil {
			*m = map[string]int64{}
		}
	}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pieces that need escaping or are otherwise awkward in a JSON string.
var pieces = []string{"", "a", "EUR", "p-42", `"`, `\`, "<", ">", "&", "\u2028", "\u2029", "\x00", "\x1f", "\b", "\f",
	"\n", "\r", "\t", "\x7f", "é", "日本", "🙂", "\xff", "\xc3", "\xed\xa0\x80", "\ufffd", "/", "'", "%", " "}

func randString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(5) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

func randInt(rng *rand.Rand) int64 {
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64
	case 2:
		return math.MinInt64
	case 3:
		return -rng.Int64N(1000)
	}
	return rng.Int64()
}

func randMap(rng *rand.Rand) map[string]int64 {
	if rng.IntN(5) == 0 {
		return nil
	}
	m := map[string]int64{}
	for range rng.IntN(8) {
		m[randString(rng)] = randInt(rng)
	}
	return m
}

func randRecord(rng *rand.Rand) *Record {
	return &Record{
		SchemaVersion: int(randInt(rng)), WindowStart: randString(rng), WindowEnd: randString(rng),
		SourcePartition: int32(randInt(rng)), Revision: randInt(rng), Events: randInt(rng),
		EventsByType: randMap(rng), Users: randInt(rng), Sessions: randInt(rng), Orders: randInt(rng),
		RevenueMinor: randMap(rng), Refunds: randInt(rng), RefundedMinor: randMap(rng),
		PaymentFailures: randInt(rng), Funnel: randMap(rng), ProductViews: randMap(rng),
		LateAccepted: randInt(rng), Duplicates: randInt(rng),
	}
}

// TestAppendJSONMatchesEncodingJSON: over random records with every kind of
// awkward string (escapes, HTML characters, U+2028, invalid UTF-8, emoji)
// in product ids, currencies and window bounds, and extreme integers, the
// append encoder writes exactly encoding/json's bytes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10_000 {
		r := randRecord(rng)
		want := reference(t, r)
		got, _ := r.Marshal()
		if string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		// Appending keeps what dst held.
		if got := r.View().AppendJSON([]byte("x")); string(got) != "x"+string(want) {
			t.Fatalf("record %d: AppendJSON lost its prefix", i)
		}
	}
}

// FuzzAppendJSON: any strings and counts encode as encoding/json does.
func FuzzAppendJSON(f *testing.F) {
	f.Add("2026-01-01T00:00:00.000Z", "p<1>", "EUR", int64(5))
	f.Add("\xff", "\u2028\"\\", "\x00\x01", int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, window, product, currency string, n int64) {
		r := &Record{SchemaVersion: 1, WindowStart: window, WindowEnd: window + product, Revision: n,
			ProductViews: map[string]int64{product: n, product + currency: 1, currency: -n},
			RevenueMinor: map[string]int64{currency: n}, EventsByType: map[string]int64{window: 0}}
		got, _ := r.Marshal()
		if want := reference(t, r); string(got) != string(want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func TestViewRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		r := randRecord(rng)
		back := r.View().Record()
		want := *r
		for _, m := range []*map[string]int64{&want.EventsByType, &want.RevenueMinor, &want.RefundedMinor, &want.Funnel, &want.ProductViews} {
			if *m == nil {
				*m = map[string]int64{}
			}
		}
		if !reflect.DeepEqual(*back, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *back, want)
		}
		if key := string(r.View().AppendKey(nil)); key != r.Key() {
			t.Fatalf("key %q, want %q", key, r.Key())
		}
	}
}
