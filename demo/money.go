package demo

import (
	"strconv"
	"strings"
)

// minorDigits is ISO 4217's minor unit (decimal digits after the point) of
// every active currency code. Written out rather than taken from
// golang.org/x/text/currency: that package follows CLDR, whose "digits"
// are what is customary in display (0 for IDR, COP, ALL, AMD, ...), not the
// ISO 4217 exponent that amount_minor is counted in. Codes without a minor
// unit (XAU, XDR, ...) and codes ISO does not know are not here: the view
// shows them in minor units rather than guess.
var minorDigits = func() map[string]int {
	m := map[string]int{}
	for digits, codes := range map[int]string{
		0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
		2: "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
			"CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS " +
			"GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL " +
			"MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK " +
			"PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB " +
			"TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL",
		3: "BHD IQD JOD KWD LYD OMR TND",
		4: "CLF UYW",
	} {
		for _, c := range strings.Fields(codes) {
			m[c] = digits
		}
	}
	return m
}()

// formatMoney writes an amount in major units ("EUR 1834.81", "JPY 12340",
// "BHD 1.234"), exactly: integer arithmetic, never float64. A code without
// a known minor unit keeps its minor units and says so.
func formatMoney(code string, minor int64) string {
	digits, ok := minorDigits[code]
	if !ok {
		return code + " " + strconv.FormatInt(minor, 10) + " (minor units)"
	}
	s := strconv.FormatInt(minor, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if digits > 0 {
		if len(s) <= digits {
			s = strings.Repeat("0", digits-len(s)+1) + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return code + " " + s
}
