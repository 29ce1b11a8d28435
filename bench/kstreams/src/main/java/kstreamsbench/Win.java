package kstreamsbench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The small part of one window's state: counters, per-currency sums, emission bookkeeping; this
 * is what the "win" key-value store holds per window start ({@link #toBytes()}, ~150 bytes).
 * The large part (event ids, users, sessions with their funnel steps, product view counts)
 * lives in the "members" window store, see {@link PipelineProcessor}; the product counts are
 * also kept here in memory (not serialized) for the emitted records.
 */
final class Win {
    static final String[] FUNNEL = {"product_view", "add_to_cart", "checkout_started", "order_placed"};
    private static final JsonFactory JSON = new JsonFactory();

    final long start;
    boolean fired;   // the watermark has passed the window's end
    boolean dirty;   // changed since it was last published
    boolean hasMax;
    long maxTime;    // highest min(event_time, record timestamp) counted in this window
    long revision;
    long events;
    final long[] byType = new long[Msg.NUM_TYPES];
    long users;
    long sessions;
    final long[] funnel = new long[FUNNEL.length];
    long lateAccepted;
    long duplicates;
    final TreeMap<String, Long> revenue = new TreeMap<>();
    final TreeMap<String, Long> refunded = new TreeMap<>();
    /** product_id → views; a copy of the members store's 'P' entries of this window. */
    final HashMap<String, long[]> products = new HashMap<>();

    Win(long start) {
        this.start = start;
    }

    /** Adds without wrapping, sticking at Long.MAX_VALUE as streamlab does. */
    static long addSaturating(long a, long b) {
        return a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    byte[] toBytes() {
        int size = 8 + 1 + 8 * (5 + Msg.NUM_TYPES + 2 + FUNNEL.length) + 4 + 11 * revenue.size() + 4 + 11 * refunded.size();
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putLong(start);
        b.put((byte) ((fired ? 1 : 0) | (dirty ? 2 : 0) | (hasMax ? 4 : 0)));
        b.putLong(maxTime).putLong(revision).putLong(events).putLong(users).putLong(sessions);
        for (long v : byType) b.putLong(v);
        b.putLong(lateAccepted).putLong(duplicates);
        for (long v : funnel) b.putLong(v);
        putCurrencies(b, revenue);
        putCurrencies(b, refunded);
        return b.array();
    }

    private static void putCurrencies(ByteBuffer b, Map<String, Long> m) {
        b.putInt(m.size());
        for (Map.Entry<String, Long> e : m.entrySet()) {
            String c = e.getKey(); // three upper-case ASCII letters, validated
            b.put((byte) c.charAt(0)).put((byte) c.charAt(1)).put((byte) c.charAt(2)).putLong(e.getValue());
        }
    }

    static Win fromBytes(byte[] raw) {
        ByteBuffer b = ByteBuffer.wrap(raw);
        Win w = new Win(b.getLong());
        int flags = b.get();
        w.fired = (flags & 1) != 0;
        w.dirty = (flags & 2) != 0;
        w.hasMax = (flags & 4) != 0;
        w.maxTime = b.getLong();
        w.revision = b.getLong();
        w.events = b.getLong();
        w.users = b.getLong();
        w.sessions = b.getLong();
        for (int i = 0; i < w.byType.length; i++) w.byType[i] = b.getLong();
        w.lateAccepted = b.getLong();
        w.duplicates = b.getLong();
        for (int i = 0; i < w.funnel.length; i++) w.funnel[i] = b.getLong();
        getCurrencies(b, w.revenue);
        getCurrencies(b, w.refunded);
        return w;
    }

    private static void getCurrencies(ByteBuffer b, Map<String, Long> m) {
        int n = b.getInt();
        for (int i = 0; i < n; i++) {
            char[] c = {(char) b.get(), (char) b.get(), (char) b.get()};
            m.put(new String(c), b.getLong());
        }
    }

    /** The aggregate record of brief §7, field for field as streamlab's aggregate.Record. */
    byte[] toJson(long sizeMs, int partition) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(512 + 24 * products.size());
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeNumberField("schema_version", 1);
            g.writeStringField("window_start", Rfc3339.format(start));
            g.writeStringField("window_end", Rfc3339.format(start + sizeMs));
            g.writeNumberField("source_partition", partition);
            g.writeNumberField("revision", revision);
            g.writeNumberField("events", events);
            g.writeObjectFieldStart("events_by_type");
            TreeMap<String, Long> types = new TreeMap<>();
            for (int i = 0; i < byType.length; i++) {
                if (byType[i] != 0) types.put(Msg.TYPES[i], byType[i]);
            }
            writeEntries(g, types);
            g.writeEndObject();
            g.writeNumberField("users", users);
            g.writeNumberField("sessions", sessions);
            g.writeNumberField("orders", byType[Msg.ORDER_PLACED]);
            g.writeObjectFieldStart("revenue_minor");
            writeEntries(g, revenue);
            g.writeEndObject();
            g.writeNumberField("refunds", byType[Msg.ORDER_REFUNDED]);
            g.writeObjectFieldStart("refunded_minor");
            writeEntries(g, refunded);
            g.writeEndObject();
            g.writeNumberField("payment_failures", byType[Msg.PAYMENT_FAILED]);
            g.writeObjectFieldStart("funnel");
            TreeMap<String, Long> steps = new TreeMap<>();
            for (int i = 0; i < funnel.length; i++) {
                if (funnel[i] != 0) steps.put(FUNNEL[i], funnel[i]);
            }
            writeEntries(g, steps);
            g.writeEndObject();
            g.writeObjectFieldStart("product_views");
            TreeMap<String, Long> views = new TreeMap<>();
            for (Map.Entry<String, long[]> e : products.entrySet()) {
                if (e.getValue()[0] != 0) views.put(e.getKey(), e.getValue()[0]);
            }
            writeEntries(g, views);
            g.writeEndObject();
            g.writeNumberField("late_accepted", lateAccepted);
            g.writeNumberField("duplicates", duplicates);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void writeEntries(JsonGenerator g, Map<String, Long> m) throws IOException {
        for (Map.Entry<String, Long> e : m.entrySet()) {
            if (e.getValue() != 0) {
                g.writeNumberField(e.getKey(), e.getValue());
            }
        }
    }
}
