package oracle

import (
	"errors"
	"fmt"
	"time"
)

// parseEventTime parses the RFC 3339 subset of the contract,
//
//	YYYY-MM-DD ("T"|"t") HH:MM:SS ["." 1*DIGIT] ("Z"|"z"|("+"|"-") HH:MM)
//
// and returns Unix milliseconds in UTC, with extra fractional digits
// dropped. Dropping digits of a non-negative fraction of a second is a floor,
// and offsets are whole minutes, so the result is floor(instant) in ms also
// before 1970. It is hand-written rather than time.Parse because time.Parse
// accepts things RFC 3339 does not (and the other way round) in corner cases.
func parseEventTime(s string) (int64, error) {
	// Shortest valid form: "2006-01-02T15:04:05Z" is 20 bytes.
	if len(s) < 20 {
		return 0, errors.New("too short")
	}
	num := func(from, to int) (int, error) {
		part := s[from:to]
		if !isDigits(part) {
			return 0, fmt.Errorf("%q is not digits", part)
		}
		n := 0
		for i := 0; i < len(part); i++ {
			n = n*10 + int(part[i]-'0')
		}
		return n, nil
	}
	for _, sep := range []struct {
		at   int
		want string
	}{{4, "-"}, {7, "-"}, {10, "Tt"}, {13, ":"}, {16, ":"}} {
		if !containsByte(sep.want, s[sep.at]) {
			return 0, fmt.Errorf("byte %d must be one of %q", sep.at, sep.want)
		}
	}
	var fields [6]int
	for i, span := range [][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		n, err := num(span[0], span[1])
		if err != nil {
			return 0, err
		}
		fields[i] = n
	}
	year, month, day, hour, minute, second := fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
	if month < 1 || month > 12 {
		return 0, errors.New("month out of range")
	}
	if day < 1 || day > daysInMonth(year, month) {
		return 0, errors.New("day out of range")
	}
	if hour > 23 || minute > 59 || second > 59 {
		return 0, errors.New("time of day out of range")
	}

	rest := s[19:]
	fracMs := 0
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		digits := rest[1:i]
		if digits == "" {
			return 0, errors.New("no digits after '.'")
		}
		padded := digits + "000"
		for k := 0; k < 3; k++ {
			fracMs = fracMs*10 + int(padded[k]-'0')
		}
		rest = rest[i:]
	}

	offsetMinutes := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigits(rest[1:3]) && isDigits(rest[4:6]):
		oh := int(rest[1]-'0')*10 + int(rest[2]-'0')
		om := int(rest[4]-'0')*10 + int(rest[5]-'0')
		if oh > 23 || om > 59 {
			return 0, errors.New("offset out of range")
		}
		offsetMinutes = oh*60 + om
		if rest[0] == '-' {
			offsetMinutes = -offsetMinutes
		}
	default:
		return 0, fmt.Errorf("bad zone %q", rest)
	}

	// The wall clock given is local time at the offset; UTC = local − offset.
	local := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC).UnixMilli()
	return local + int64(fracMs) - int64(offsetMinutes)*60000, nil
}

func containsByte(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}

// daysInMonth uses the proleptic Gregorian calendar, as RFC 3339 does.
func daysInMonth(year, month int) int {
	switch month {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	default:
		return 31
	}
}
