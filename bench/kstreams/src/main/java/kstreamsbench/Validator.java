package kstreamsbench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;

/**
 * Brief §4/§5 outcomes 1-4 on one raw value, in streamlab's order (internal/event/parse.go):
 * oversized, invalid_json (incl. invalid UTF-8 and non-objects), unsupported_schema (an integer
 * schema_version above 1, decided before anything else), schema_violation. future_event needs
 * the Kafka timestamp and is decided by {@link EventTimeExtractor}.
 *
 * <p>JSON is read with Jackson's streaming parser (no tree): the top-level members are visited
 * once, nested values are skipped but still validated, a repeated key keeps its last value (as
 * encoding/json and streamlab do), and only the members the contract names are kept.
 */
final class Validator {
    private static final JsonFactory JSON = JsonFactory.builder()
            // streamlab accepts whatever encoding/json accepts, whose only limit is 10000
            // levels of nesting; Jackson's defaults (1000 digits, 50000-char names, ...) would
            // call some valid documents invalid_json.
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(10000)
                    .maxNumberLength(Integer.MAX_VALUE)
                    .maxStringLength(Integer.MAX_VALUE)
                    .maxNameLength(Integer.MAX_VALUE)
                    .build())
            .build();

    // Field indexes of the members the contract looks at.
    private static final int F_SCHEMA = 0, F_ID = 1, F_TYPE = 2, F_TIME = 3, F_USER = 4,
            F_SESSION = 5, F_PRODUCT = 6, F_ORDER = 7, F_AMOUNT = 8, F_CURRENCY = 9, NUM_FIELDS = 10;
    private static final String[] NAMES = {
        "schema_version", "event_id", "event_type", "event_time", "user_id",
        "session_id", "product_id", "order_id", "amount_minor", "currency",
    };

    // JSON kinds of a member value.
    private static final int K_UNSET = 0, K_STRING = 1, K_INT = 2, K_FLOAT = 3, K_OBJECT = 4,
            K_ARRAY = 5, K_BOOL = 6, K_NULL = 7;
    private static final String[] KIND_NAMES = {"", "string", "number", "number", "object", "array", "boolean", "null"};

    private final int maxEventBytes;

    Validator(int maxEventBytes) {
        this.maxEventBytes = maxEventBytes;
    }

    private static int fieldIndex(String name) {
        switch (name) {
            case "schema_version": return F_SCHEMA;
            case "event_id": return F_ID;
            case "event_type": return F_TYPE;
            case "event_time": return F_TIME;
            case "user_id": return F_USER;
            case "session_id": return F_SESSION;
            case "product_id": return F_PRODUCT;
            case "order_id": return F_ORDER;
            case "amount_minor": return F_AMOUNT;
            case "currency": return F_CURRENCY;
            default: return -1;
        }
    }

    Msg parse(byte[] value) {
        Msg m = new Msg(value);
        byte[] v = value == null ? new byte[0] : value;
        if (v.length > maxEventBytes) {
            m.reject(Msg.OVERSIZED, "value is " + v.length + " bytes, limit is " + maxEventBytes);
            return m;
        }
        int bad = Utf8.firstInvalid(v);
        if (bad >= 0) {
            m.reject(Msg.INVALID_JSON, "value is not valid UTF-8 (first bad byte at offset " + bad + ")");
            return m;
        }
        if (v.length == 0) {
            m.reject(Msg.INVALID_JSON, "value is empty");
            return m;
        }
        // Jackson sniffs the encoding of a byte source: a UTF-8 BOM is skipped and NUL bytes
        // can make it read UTF-16/32. Neither is valid JSON for encoding/json (a NUL byte is a
        // control character wherever it stands), so both are decided here.
        if (Utf8.hasNul(v) || (v.length >= 3 && (v[0] & 0xff) == 0xEF && (v[1] & 0xff) == 0xBB && (v[2] & 0xff) == 0xBF)) {
            m.reject(Msg.INVALID_JSON, "value is not valid JSON: invalid character");
            return m;
        }
        int[] kinds = new int[NUM_FIELDS];
        String[] text = new String[NUM_FIELDS];
        try (JsonParser p = JSON.createParser(v)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                m.reject(Msg.INVALID_JSON, "value is empty");
                return m;
            }
            if (t != JsonToken.START_OBJECT) {
                // Valid or not, the reason is the same: skip to the end only to tell which.
                p.skipChildren();
                if (p.nextToken() != null) {
                    throw new IOException("trailing data after the top-level value");
                }
                m.reject(Msg.INVALID_JSON, "value is valid JSON but not an object");
                return m;
            }
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                int i = fieldIndex(p.currentName());
                JsonToken vt = p.nextToken();
                int kind;
                String s = null;
                switch (vt) {
                    case START_OBJECT: p.skipChildren(); kind = K_OBJECT; break;
                    case START_ARRAY: p.skipChildren(); kind = K_ARRAY; break;
                    case VALUE_STRING: kind = K_STRING; if (i >= 0) s = p.getText(); break;
                    case VALUE_NUMBER_INT: kind = K_INT; if (i >= 0) s = p.getText(); break;
                    case VALUE_NUMBER_FLOAT: kind = K_FLOAT; if (i >= 0) s = p.getText(); break;
                    case VALUE_TRUE: case VALUE_FALSE: kind = K_BOOL; break;
                    case VALUE_NULL: kind = K_NULL; break;
                    default: throw new IOException("unexpected token " + vt);
                }
                if (i >= 0) {
                    kinds[i] = kind;
                    text[i] = s;
                }
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw new IOException("trailing data after the top-level object");
            }
        } catch (IOException | RuntimeException e) {
            m.reject(Msg.INVALID_JSON, "value is not valid JSON: " + firstLine(e.getMessage()));
            return m;
        }
        validate(m, kinds, text);
        return m;
    }

    private static void validate(Msg m, int[] kinds, String[] text) {
        // unsupported_schema is decided before any other field is looked at.
        String schemaErr = null;
        if (kinds[F_SCHEMA] == K_UNSET) {
            schemaErr = missing(F_SCHEMA);
        } else if (kinds[F_SCHEMA] == K_INT && text[F_SCHEMA].charAt(0) != '-') {
            String raw = text[F_SCHEMA];
            if (!raw.equals("1")) {
                if (!raw.equals("0")) {
                    m.reject(Msg.UNSUPPORTED_SCHEMA, "schema_version " + clip(raw) + " is newer than the supported version 1");
                    return;
                }
                schemaErr = "schema_version must be the integer 1, got 0";
            }
        } else {
            schemaErr = "schema_version must be the integer 1, got a JSON " + KIND_NAMES[kinds[F_SCHEMA]];
        }
        // event_time first, so that a dead letter for a later problem still carries it.
        String timeErr = null;
        if (kinds[F_TIME] == K_UNSET) {
            timeErr = missing(F_TIME);
        } else if (kinds[F_TIME] != K_STRING) {
            timeErr = mistyped(F_TIME, "an RFC 3339 string", kinds[F_TIME]);
        } else if (Rfc3339.parse(text[F_TIME], m)) {
            m.hasTime = true;
        } else {
            timeErr = "event_time \"" + clip(text[F_TIME]) + "\" is not an RFC 3339 date-time";
        }
        if (schemaErr != null) {
            m.reject(Msg.SCHEMA_VIOLATION, schemaErr);
            return;
        }
        String err = fields(m, kinds, text, timeErr);
        if (err != null) {
            m.reject(Msg.SCHEMA_VIOLATION, err);
        }
    }

    /** Everything but schema_version, in streamlab's order; null when the event is valid. */
    private static String fields(Msg m, int[] kinds, String[] text, String timeErr) {
        if (kinds[F_ID] != K_STRING) {
            return kinds[F_ID] == K_UNSET ? missing(F_ID) : mistyped(F_ID, "a UUID string", kinds[F_ID]);
        }
        if (!parseUuid(text[F_ID], m.id)) {
            return "event_id \"" + clip(text[F_ID]) + "\" is not a canonical 8-4-4-4-12 hex UUID";
        }
        if (kinds[F_TYPE] != K_STRING) {
            return kinds[F_TYPE] == K_UNSET ? missing(F_TYPE) : mistyped(F_TYPE, "a string", kinds[F_TYPE]);
        }
        m.type = -1;
        for (int i = 0; i < Msg.NUM_TYPES; i++) {
            if (Msg.TYPES[i].equals(text[F_TYPE])) {
                m.type = i;
                break;
            }
        }
        if (m.type < 0) {
            return "event_type \"" + clip(text[F_TYPE]) + "\" is not one of the v1 types";
        }
        if (timeErr != null) {
            return timeErr;
        }
        if ((m.userId = nonEmpty(kinds, text, F_USER)) == null) {
            return needString(kinds, F_USER);
        }
        if ((m.sessionId = nonEmpty(kinds, text, F_SESSION)) == null) {
            return needString(kinds, F_SESSION);
        }
        if (Msg.needsProduct(m.type) && (m.productId = nonEmpty(kinds, text, F_PRODUCT)) == null) {
            return needString(kinds, F_PRODUCT) + " for " + Msg.TYPES[m.type];
        }
        if (Msg.isOrder(m.type)) {
            if ((m.orderId = nonEmpty(kinds, text, F_ORDER)) == null) {
                return needString(kinds, F_ORDER) + " for " + Msg.TYPES[m.type];
            }
            switch (kinds[F_AMOUNT]) {
                case K_UNSET: return missing(F_AMOUNT) + " for " + Msg.TYPES[m.type];
                case K_INT: break;
                case K_FLOAT: return "amount_minor must be an integer literal in minor units, got " + clip(text[F_AMOUNT]);
                default: return mistyped(F_AMOUNT, "a positive integer", kinds[F_AMOUNT]);
            }
            String raw = text[F_AMOUNT];
            long amt;
            try {
                amt = Long.parseLong(raw);
            } catch (NumberFormatException e) {
                return raw.charAt(0) != '-'
                        ? "amount_minor " + clip(raw) + " exceeds the 64-bit limit " + Long.MAX_VALUE
                        : "amount_minor must be greater than 0, got " + clip(raw);
            }
            if (amt <= 0) {
                return "amount_minor must be greater than 0, got " + clip(raw);
            }
            m.amountMinor = amt;
            if (kinds[F_CURRENCY] != K_STRING) {
                return kinds[F_CURRENCY] == K_UNSET
                        ? missing(F_CURRENCY) + " for " + Msg.TYPES[m.type]
                        : mistyped(F_CURRENCY, "a three-letter code", kinds[F_CURRENCY]);
            }
            String c = text[F_CURRENCY];
            if (c.length() != 3 || !upper(c.charAt(0)) || !upper(c.charAt(1)) || !upper(c.charAt(2))) {
                return "currency \"" + clip(c) + "\" must be three upper-case letters";
            }
            m.currency = c;
        }
        return null;
    }

    private static boolean upper(char c) {
        return c >= 'A' && c <= 'Z';
    }

    private static String nonEmpty(int[] kinds, String[] text, int i) {
        if (kinds[i] != K_STRING || text[i].isEmpty()) {
            return null;
        }
        return text[i];
    }

    private static String needString(int[] kinds, int i) {
        if (kinds[i] == K_UNSET) {
            return missing(i);
        }
        if (kinds[i] != K_STRING) {
            return mistyped(i, "a non-empty string", kinds[i]);
        }
        return NAMES[i] + " must be a non-empty string";
    }

    private static String missing(int i) {
        return "missing required field " + NAMES[i];
    }

    private static String mistyped(int i, String want, int got) {
        return NAMES[i] + " must be " + want + ", got a JSON " + KIND_NAMES[got];
    }

    private static String clip(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "syntax error";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Canonical 8-4-4-4-12 hex, either case, into 16 bytes (ids compare as UUIDs). */
    static boolean parseUuid(String s, byte[] out) {
        if (s.length() != 36 || s.charAt(8) != '-' || s.charAt(13) != '-' || s.charAt(18) != '-' || s.charAt(23) != '-') {
            return false;
        }
        int j = 0;
        for (int i = 0; i < 36; ) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                i++;
                continue;
            }
            int hi = hex(s.charAt(i)), lo = hex(s.charAt(i + 1));
            if (hi < 0 || lo < 0) {
                return false;
            }
            out[j++] = (byte) (hi << 4 | lo);
            i += 2;
        }
        return true;
    }

    private static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
}
