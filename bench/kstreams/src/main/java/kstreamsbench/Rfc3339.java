package kstreamsbench;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * A line-by-line port of streamlab's ParseTime (internal/event/timefmt.go): RFC 3339 section
 * 5.6, 'T'/'Z' in either case, any number of fractional digits, numeric offsets; no space for
 * 'T', no missing offset, no 24:00, no leap second. UTC Unix milliseconds, truncated toward the
 * past. Only ASCII can match, so working on chars instead of bytes decides the same.
 */
final class Rfc3339 {
    private Rfc3339() {}

    private static final DateTimeFormatter OUT =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    /** streamlab's FormatMillis: UTC, exactly three fractional digits. */
    static String format(long ms) {
        return OUT.format(Instant.ofEpochMilli(ms));
    }

    /** Parses s into m.timeMs; false when s is not an RFC 3339 date-time. */
    static boolean parse(String s, Msg m) {
        if (s.length() < 20) {
            return false;
        }
        int year = digits(s, 0, 4), month = digits(s, 5, 7), day = digits(s, 8, 10);
        int hour = digits(s, 11, 13), minute = digits(s, 14, 16), sec = digits(s, 17, 19);
        if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || sec < 0
                || s.charAt(4) != '-' || s.charAt(7) != '-' || (s.charAt(10) != 'T' && s.charAt(10) != 't')
                || s.charAt(13) != ':' || s.charAt(16) != ':') {
            return false;
        }
        if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59) {
            return false;
        }
        int i = 19;
        long frac = 0;
        if (s.charAt(i) == '.') {
            i++;
            int n = 0;
            while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
                if (n < 3) {
                    frac = frac * 10 + (s.charAt(i) - '0');
                }
                n++;
                i++;
            }
            if (n == 0) {
                return false;
            }
            for (; n < 3; n++) {
                frac *= 10;
            }
        }
        if (i >= s.length()) {
            return false;
        }
        long offsetSec = 0;
        char c = s.charAt(i);
        if (c == 'Z' || c == 'z') {
            i++;
        } else if (c == '+' || c == '-') {
            if (s.length() - i != 6 || s.charAt(i + 3) != ':') {
                return false;
            }
            int oh = digits(s, i + 1, i + 3), om = digits(s, i + 4, i + 6);
            if (oh < 0 || om < 0 || oh > 23 || om > 59) {
                return false;
            }
            offsetSec = oh * 3600L + om * 60L;
            if (c == '-') {
                offsetSec = -offsetSec;
            }
            i += 6;
        } else {
            return false;
        }
        if (i != s.length()) {
            return false;
        }
        long secs = daysFromCivil(year, month, day) * 86400 + (hour * 3600L + minute * 60L + sec) - offsetSec;
        m.timeMs = secs * 1000 + frac;
        return true;
    }

    private static int digits(String s, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    private static int daysIn(int year, int month) {
        switch (month) {
            case 2:
                return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
            case 4: case 6: case 9: case 11:
                return 30;
            default:
                return 31;
        }
    }

    /** Howard Hinnant's days_from_civil, as in streamlab. */
    private static long daysFromCivil(int y, int m, int d) {
        if (m <= 2) {
            y--;
        }
        int era = y / 400;
        if (y < 0 && y % 400 != 0) {
            era--;
        }
        int yoe = y - era * 400;
        int mp = (m + 9) % 12;
        int doy = (153 * mp + 2) / 5 + d - 1;
        int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return (long) era * 146097 + doe - 719468;
    }
}
