package gen

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendTimeMatchesTimeFormat(t *testing.T) {
	e := newEncoder()
	r := rand.New(rand.NewPCG(1, 2))
	cases := []int64{0, -1, -999, -1000, -86_400_000, -86_400_001, 1, 999, 86_399_999,
		time.Date(2026, 1, 1, 0, 0, 1, 234e6, time.UTC).UnixMilli(),
		time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli(),
		time.Date(2199, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli(),
	}
	for i := 0; i < 10000; i++ {
		// Random instants between 1900 and 2200.
		cases = append(cases, r.Int64N(9_500_000_000_000)-2_208_988_800_000)
	}
	for _, ms := range cases {
		got := string(e.appendTime(nil, ms))
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		if got != want {
			t.Fatalf("appendTime(%d) = %s, want %s", ms, got, want)
		}
	}
}

func TestAppendStringRoundTrips(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and backslash \`, "tab\tnew\nline\rcr", "\x00\x01\x1f",
		"café 日本茶 ü", "/search?q=\"noise cancelling\"", "\u2028\u2029",
	} {
		b := appendString(nil, s)
		for _, c := range b {
			if c == '\n' || c == '\r' {
				t.Fatalf("appendString(%q) = %q contains a raw line break", s, b)
			}
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Fatalf("appendString(%q) = %s decodes to %q, %v", s, b, back, err)
		}
	}
}

func TestUUIDIsVersion4(t *testing.T) {
	for _, in := range [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {0x0123456789abcdef, 0xfedcba9876543210}} {
		s := uuidString(newUUID(in[0], in[1]))
		if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			t.Fatalf("%q is not in 8-4-4-4-12 form", s)
		}
		if s[14] != '4' {
			t.Errorf("%q: version nibble %c, want 4", s, s[14])
		}
		if v := s[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
			t.Errorf("%q: variant nibble %c, want 8, 9, a or b", s, v)
		}
	}
	if got := uuidString(newUUID(0x0123456789abcdef, 0xfedcba9876543210)); got != "01234567-89ab-4def-bedc-ba9876543210" {
		t.Errorf("uuid = %s", got)
	}
}
