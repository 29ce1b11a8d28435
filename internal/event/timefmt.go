package event

import "time"

// ParseTime parses an RFC 3339 date-time (section 5.6: 'T'/'Z' may be lower
// case, any number of fractional digits, numeric offsets) into Unix
// milliseconds in UTC, truncated toward the past. Seconds = 60 is rejected:
// leap seconds cannot be placed on a Unix timeline without smearing.
//
// It is hand-written because time.Parse accepts things RFC 3339 does not
// (e.g. one-digit hours in some layouts) and rejects lower-case 't'/'z', and
// because it is on the hot path.
func ParseTime(s []byte) (int64, bool) {
	// YYYY-MM-DDTHH:MM:SS is 19 bytes, plus at least "Z".
	if len(s) < 20 {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	var frac int64
	if s[i] == '.' {
		i++
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 3 {
				frac = frac*10 + int64(s[i]-'0')
			}
			n++
			i++
		}
		if n == 0 {
			return 0, false
		}
		for ; n < 3; n++ {
			frac *= 10
		}
	}
	if i >= len(s) {
		return 0, false
	}
	var offsetSec int64
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return 0, false
		}
		oh, okh := digits(s[i+1 : i+3])
		om, okm := digits(s[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offsetSec = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offsetSec = -offsetSec
		}
		i += 6
	default:
		return 0, false
	}
	if i != len(s) {
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - offsetSec
	return secs*1000 + frac, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's algorithm: days since 1970-01-01 for a
// proleptic Gregorian date, valid for every year RFC 3339 can write.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// FormatMillis writes Unix milliseconds as RFC 3339 UTC with exactly three
// fractional digits, the format of every timestamp streamlab emits.
func FormatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// AppendMillis is FormatMillis appending to b.
func AppendMillis(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}
