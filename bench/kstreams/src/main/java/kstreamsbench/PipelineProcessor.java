package kstreamsbench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.TreeMap;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * One task = one partition of the raw topic: dead letters to the DLQ sink, valid events into
 * 1-minute tumbling windows of that partition, aggregate records to the aggregate sink.
 *
 * <p>It is streamlab's window engine (internal/window) rewritten on Kafka Streams state stores:
 * <ul>
 *   <li>"win" (RocksDB key-value store, changelogged, cached): window start → {@link Win}, the
 *       small per-window aggregate. The processor keeps a deserialized copy of these few
 *       windows in memory and writes every change through to the store, so the store (and
 *       its changelog) is always what a restore rebuilds the copy from.</li>
 *   <li>"members" (RocksDB window store, changelogged, retention = 2 windows + grace): the
 *       per-window sets: event ids (duplicates), user ids, session ids with their funnel steps,
 *       and product view counts. Ids, users and sessions are looked up in the store for every
 *       event; product counts are also kept in memory with the window (they make up the
 *       emitted record). Expired by dropping whole segments. Not cached by default: its keys
 *       are mostly new (every event id), so Kafka Streams' record cache only adds work.</li>
 * </ul>
 * Stream time is tracked like KStreamWindowAggregate does (the highest timestamp the processor
 * has seen), over valid events only, which makes it streamlab's "highest counted event time".
 */
final class PipelineProcessor implements Processor<byte[], Msg, Object, Object> {
    static final String WIN_STORE = "win";
    static final String MEMBERS_STORE = "members";
    static final String AGG_SINK = "agg-sink";
    static final String DLQ_SINK = "dlq-sink";
    private static final byte[] ONE = {1};

    private final Settings s;
    private ProcessorContext<Object, Object> ctx;
    private KeyValueStore<Long, byte[]> winStore;
    private WindowStore<Bytes, byte[]> members;
    private final TreeMap<Long, Win> windows = new TreeMap<>();
    private boolean hasMax;
    private long maxTime;
    private int partition;
    private volatile boolean flushed;

    PipelineProcessor(Settings s) {
        this.s = s;
    }

    @Override
    public void init(ProcessorContext<Object, Object> context) {
        ctx = context;
        winStore = context.getStateStore(WIN_STORE);
        members = context.getStateStore(MEMBERS_STORE);
        partition = context.taskId().partition();
        // The in-memory copy of the window aggregates, from the (restored) store.
        try (KeyValueIterator<Long, byte[]> it = winStore.all()) {
            while (it.hasNext()) {
                KeyValue<Long, byte[]> kv = it.next();
                Win w = Win.fromBytes(kv.value);
                windows.put(w.start, w);
                // Product view counts: the 'P' entries of the window ('Q' is no kind).
                try (KeyValueIterator<Windowed<Bytes>, byte[]> ps =
                             members.fetch(key('P', new byte[0]), key('Q', new byte[0]), w.start, w.start)) {
                    while (ps.hasNext()) {
                        KeyValue<Windowed<Bytes>, byte[]> e = ps.next();
                        byte[] k = e.key.key().get();
                        if (k.length > 0 && k[0] == 'P') {
                            String product = new String(k, 1, k.length - 1, StandardCharsets.UTF_8);
                            w.products.put(product, new long[] {ByteBuffer.wrap(e.value).getLong()});
                        }
                    }
                }
                if (w.hasMax && (!hasMax || w.maxTime > maxTime)) {
                    hasMax = true;
                    maxTime = w.maxTime;
                }
            }
        }
        // streamlab flushes windows the watermark has not passed when it is stopped; a
        // processor cannot forward from close(), so Main asks for it and this does it.
        context.schedule(Duration.ofMillis(50), PunctuationType.WALL_CLOCK_TIME, t -> {
            if (Main.flushRequested() && !flushed) {
                flushPending();
                flushed = true;
                Main.flushedOne();
            }
        });
        Main.registered(this);
    }

    @Override
    public void close() {
        Main.unregistered(this);
    }

    boolean isFlushed() {
        return flushed;
    }

    @Override
    public void process(Record<byte[], Msg> rec) {
        Msg m = rec.value();
        RecordMetadata md = ctx.recordMetadata().orElseThrow();
        if (m.reason == null) {
            apply(m);
        }
        if (m.reason != null) {
            dead(rec, m, md);
        }
    }

    private void apply(Msg m) {
        long start = Math.floorDiv(m.timeMs, s.sizeMs) * s.sizeMs;
        long end = start + s.sizeMs;
        // KStreamWindowAggregate's rule: closed when end <= streamTime - grace.
        if (hasMax && end <= maxTime - s.graceMs()) {
            m.reject(Msg.LATE_EVENT, "event_time " + Rfc3339.format(m.timeMs) + " belongs to the window ending "
                    + Rfc3339.format(end) + ", closed for good: watermark " + Rfc3339.format(maxTime - s.outOfOrdernessMs)
                    + " is past the window end plus the allowed lateness of " + s.allowedLatenessMs + "ms");
            return;
        }
        Win w = windows.get(start);
        if (w == null) {
            w = new Win(start);
            windows.put(start, w);
        }
        Bytes idKey = key('I', m.id);
        if (members.fetch(idKey, start) != null) {
            // A duplicate changes the record (its duplicates counter): an emitted window is
            // emitted again (docs/semantics.md, reading 1).
            w.duplicates++;
            changed(w);
            winStore.put(start, w.toBytes());
            return;
        }
        members.put(idKey, ONE, start);
        w.events++;
        w.byType[m.type]++;
        Bytes userKey = key('U', m.userId.getBytes(StandardCharsets.UTF_8));
        if (members.fetch(userKey, start) == null) {
            members.put(userKey, ONE, start);
            w.users++;
        }
        Bytes sessionKey = key('S', m.sessionId.getBytes(StandardCharsets.UTF_8));
        byte[] old = members.fetch(sessionKey, start);
        int bits = old == null ? 0 : old[0];
        int nb = bits | funnelBit(m.type);
        if (old == null) {
            w.sessions++;
        }
        if (old == null || nb != bits) {
            members.put(sessionKey, new byte[] {(byte) nb}, start);
            for (int i = 0; i < Win.FUNNEL.length; i++) {
                if ((nb & ~bits & (1 << i)) != 0) {
                    w.funnel[i]++;
                }
            }
        }
        switch (m.type) {
            case Msg.PRODUCT_VIEW: {
                long[] views = w.products.computeIfAbsent(m.productId, k -> new long[1]);
                views[0]++;
                members.put(key('P', m.productId.getBytes(StandardCharsets.UTF_8)), longBytes(views[0]), start);
                break;
            }
            case Msg.ORDER_PLACED:
                w.revenue.merge(m.currency, m.amountMinor, Win::addSaturating);
                break;
            case Msg.ORDER_REFUNDED:
                w.refunded.merge(m.currency, m.amountMinor, Win::addSaturating);
                break;
            default:
                break;
        }
        if (w.fired) {
            w.lateAccepted++;
        }
        changed(w);
        if (!w.hasMax || m.timeMs > w.maxTime) {
            w.hasMax = true;
            w.maxTime = m.timeMs;
        }
        winStore.put(start, w.toBytes());
        if (!hasMax || m.timeMs > maxTime) {
            hasMax = true;
            maxTime = m.timeMs;
        }
        // Also when the watermark did not move: a new window may already be behind it.
        advance();
    }

    private static int funnelBit(int type) {
        switch (type) {
            case Msg.PRODUCT_VIEW: return 1;
            case Msg.ADD_TO_CART: return 2;
            case Msg.CHECKOUT_STARTED: return 4;
            case Msg.ORDER_PLACED: return 8;
            default: return 0;
        }
    }

    /** Fires windows the watermark has passed, oldest first; forgets closed ones. */
    private void advance() {
        long wm = maxTime - s.outOfOrdernessMs;
        long closeTime = maxTime - s.graceMs();
        for (Iterator<Win> it = windows.values().iterator(); it.hasNext(); ) {
            Win w = it.next();
            long end = w.start + s.sizeMs;
            if (end > wm) {
                break; // ascending starts: no later window is due
            }
            boolean fired = false;
            if (!w.fired) {
                w.fired = true;
                fired = true;
                if (w.dirty) {
                    publish(w);
                }
            }
            if (end <= closeTime) {
                // Closed for good: later events for it are late_event. Its members expire
                // with their window-store segment.
                it.remove();
                winStore.delete(w.start);
            } else if (fired) {
                winStore.put(w.start, w.toBytes());
            }
        }
    }

    private void changed(Win w) {
        w.dirty = true;
        if (w.fired) {
            publish(w);
        }
    }

    private void publish(Win w) {
        w.revision++;
        w.dirty = false;
        String key = Rfc3339.format(w.start) + "/" + partition;
        ctx.forward(new Record<Object, Object>(key, w.toJson(s.sizeMs, partition), System.currentTimeMillis()), AGG_SINK);
    }

    /** Publishes every window the watermark has not passed, as it stands (shutdown flush). */
    private void flushPending() {
        List<Win> changed = new ArrayList<>();
        for (Win w : windows.values()) {
            if (!w.fired && w.dirty) {
                publish(w);
                changed.add(w);
            }
        }
        for (Win w : changed) {
            winStore.put(w.start, w.toBytes());
        }
    }

    private void dead(Record<byte[], Msg> rec, Msg m, RecordMetadata md) {
        Headers h = new RecordHeaders();
        String replayCount = "0";
        for (Header in : rec.headers()) {
            if (in.key().equals("dlq.replay_count") && in.value() != null) {
                replayCount = new String(in.value(), StandardCharsets.UTF_8);
            }
            if (!in.key().startsWith("dlq.")) {
                h.add(in);
            }
        }
        h.add("dlq.reason", utf8(m.reason));
        h.add("dlq.error", utf8(m.detail));
        h.add("dlq.source.topic", utf8(md.topic()));
        h.add("dlq.source.partition", utf8(Integer.toString(md.partition())));
        h.add("dlq.source.offset", utf8(Long.toString(md.offset())));
        long now = System.currentTimeMillis();
        h.add("dlq.failed_at", utf8(Rfc3339.format(now)));
        h.add("dlq.replay_count", utf8(replayCount));
        if (m.hasTime) {
            h.add("dlq.event_time", utf8(Rfc3339.format(m.timeMs)));
        }
        ctx.forward(new Record<Object, Object>(rec.key(), m.raw, now, h), DLQ_SINK);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] longBytes(long v) {
        return ByteBuffer.allocate(8).putLong(v).array();
    }

    private static Bytes key(char kind, byte[] payload) {
        byte[] k = new byte[payload.length + 1];
        k[0] = (byte) kind;
        System.arraycopy(payload, 0, k, 1, payload.length);
        return Bytes.wrap(k);
    }

}
