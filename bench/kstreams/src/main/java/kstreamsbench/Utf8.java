package kstreamsbench;

/** UTF-8 validity as Go's utf8.Valid decides it (no surrogates, no overlongs, max U+10FFFF). */
final class Utf8 {
    private Utf8() {}

    /** The offset of the first byte that does not start a valid sequence, or -1. */
    static int firstInvalid(byte[] b) {
        int i = 0, n = b.length;
        while (i < n) {
            int c = b[i] & 0xff;
            if (c < 0x80) {
                i++;
                continue;
            }
            int need;
            int lo = 0x80, hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0) lo = 0xA0;       // no overlongs
                else if (c == 0xED) hi = 0x9F;  // no surrogates
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0) lo = 0x90;       // no overlongs
                else if (c == 0xF4) hi = 0x8F;  // max U+10FFFF
            } else {
                return i;
            }
            if (i + need >= n) {
                return i; // truncated sequence
            }
            int c1 = b[i + 1] & 0xff;
            if (c1 < lo || c1 > hi) {
                return i;
            }
            for (int k = 2; k <= need; k++) {
                int ck = b[i + k] & 0xff;
                if (ck < 0x80 || ck > 0xBF) {
                    return i;
                }
            }
            i += need + 1;
        }
        return -1;
    }

    static boolean hasNul(byte[] b) {
        for (byte x : b) {
            if (x == 0) {
                return true;
            }
        }
        return false;
    }
}
