package rules

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median of xs (mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mad is the median absolute deviation from the median: a spread that one
// past outlier (yesterday's incident) cannot inflate.
func mad(xs []float64) float64 {
	m := median(xs)
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return median(d)
}

// trimFloat formats a number without trailing zeros: 3, 0.5, 2.25.
func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// pct shows a share as a percentage with the precision small shares need:
// "12.3 %", "0.10 %".
func pct(f float64) string {
	p := 100 * f
	if math.Abs(p) < 1 && p != 0 {
		return strconv.FormatFloat(p, 'f', 2, 64) + " %"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + " %"
}

// minorDigits are the ISO 4217 currencies whose minor unit is not a
// hundredth; every other currency has two decimals.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// money shows an amount in minor units in major units: "EUR 1,234.50".
func money(currency string, minor float64) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	neg := minor < 0
	v := math.Round(math.Abs(minor))
	s := strconv.FormatFloat(v/math.Pow10(digits), 'f', digits, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	sign := ""
	if neg {
		sign = "-"
	}
	return currency + " " + sign + b.String()
}

// clock shows a time of day in UTC; alerts carry the full times besides.
func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

// stamp shows a date and time in UTC, for evidence that may be old.
func stamp(t time.Time) string { return t.UTC().Format(time.DateTime) }

// short shows a duration without zero units: 1m, 30m, 1h30m, 2s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
