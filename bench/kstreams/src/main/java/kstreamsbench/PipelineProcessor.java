package kstreamsbench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Iterator;
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
 *   <li>"members" (RocksDB window store, changelogged, retention = 2 windows + grace + replay
 *       retention + max future skew): the per-window sets: event ids (duplicates), user ids,
 *       session ids with their funnel steps, and product view counts. Ids, users and sessions are looked up in the store for every
 *       event; product counts are also kept in memory with the window (they make up the
 *       emitted record). Expired by dropping whole segments. Not cached by default: its keys
 *       are mostly new (every event id), so Kafka Streams' record cache only adds work.</li>
 * </ul>
 * Stream time is tracked like KStreamWindowAggregate does (the highest timestamp the processor
 * has seen), over counted events only and capped at each record's Kafka timestamp, which makes
 * it streamlab's "highest min(event_time, record timestamp) among counted events".
 *
 * <p>Upserts are coalesced as streamlab's engine does (docs/semantics.md, "Coalesced upserts"):
 * a change to a fired window only marks it dirty; every record whose offset
 * ({@link ProcessorContext#recordMetadata()}) reaches the end of the current aligned range
 * [k·N, (k+1)·N) first publishes the dirty fired windows, oldest first, one revision each.
 * The range end lives in the "win" store under {@link #META} and the dirty flags in each
 * window's record, so a task restored from the changelog continues the same ranges.
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
    /** The key of the "win" store's one non-window entry: the end of the current range. */
    static final long META = Long.MIN_VALUE;

    /** Windows the watermark has not passed yet, by start. */
    private final TreeMap<Long, Win> pending = new TreeMap<>();
    /** Fired windows still held (for late or replayed events, or an unpublished change), by start. */
    private final TreeMap<Long, Win> retained = new TreeMap<>();
    private boolean hasMax;
    private long maxTime; // highest min(event_time, record timestamp) among counted events
    /** First offset of the next coalescing range; MIN_VALUE before the first record. */
    private long rangeEnd = Long.MIN_VALUE;
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
                if (kv.key == META) {
                    rangeEnd = ByteBuffer.wrap(kv.value).getLong();
                    continue;
                }
                Win w = Win.fromBytes(kv.value);
                (w.fired ? retained : pending).put(w.start, w);
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
        // Every record, a dead letter too, may end the coalescing range: ranges are offsets.
        skip(md.offset());
        if (m.reason == null) {
            apply(m, replayCount(rec.headers()) > 0);
        }
        if (m.reason != null) {
            dead(rec, m, md);
        }
    }

    /**
     * streamlab's deadletter.ReplayCount: the first dlq.replay_count header whose value is a
     * non-negative decimal integer; 0 when there is none.
     */
    static long replayCount(Headers headers) {
        for (Header h : headers) {
            if (!h.key().equals("dlq.replay_count") || h.value() == null) {
                continue;
            }
            long n = parseCount(h.value());
            if (n >= 0) {
                return n;
            }
        }
        return 0;
    }

    /** Go's strconv.Atoi on ASCII bytes, for values >= 0; -1 when it would fail or be negative. */
    private static long parseCount(byte[] v) {
        int i = 0;
        boolean neg = false;
        if (v.length > 0 && (v[0] == '+' || v[0] == '-')) {
            neg = v[0] == '-';
            i = 1;
        }
        if (i == v.length) {
            return -1;
        }
        long n = 0;
        for (; i < v.length; i++) {
            int d = v[i] - '0';
            if (d < 0 || d > 9 || n > (Long.MAX_VALUE - d) / 10) {
                return -1;
            }
            n = n * 10 + d;
        }
        return neg && n != 0 ? -1 : n;
    }

    /**
     * Ends the current coalescing range when offset is past it: publishes the fired windows
     * changed in it, oldest first (streamlab's Engine.Skip).
     */
    private void skip(long offset) {
        if (offset < rangeEnd) {
            return;
        }
        publishChanges();
        long n = s.coalesceOffsets;
        long k = Math.floorDiv(offset, n);
        rangeEnd = k < Long.MAX_VALUE / n - 1 ? (k + 1) * n : Long.MAX_VALUE;
        winStore.put(META, longBytes(rangeEnd));
    }

    private void apply(Msg m, boolean replay) {
        long start = Math.floorDiv(m.timeMs, s.sizeMs) * s.sizeMs;
        long end = start + s.sizeMs;
        // KStreamWindowAggregate's rule: closed when end <= streamTime - grace; a replayed dead
        // letter may also reach windows kept for the replay retention.
        long limit = replay ? s.keepMs() : s.graceMs();
        if (hasMax && end <= maxTime - limit) {
            m.reject(Msg.LATE_EVENT, "event_time " + Rfc3339.format(m.timeMs) + " belongs to the window ending "
                    + Rfc3339.format(end) + ", closed for good: watermark " + Rfc3339.format(maxTime - s.outOfOrdernessMs)
                    + " is past the window end plus the allowed lateness of " + s.allowedLatenessMs + "ms"
                    + (replay ? " and the replay retention of " + s.replayRetentionMs + "ms" : ""));
            return;
        }
        Win w = pending.get(start);
        if (w == null) {
            w = retained.get(start);
        }
        if (w == null) {
            w = new Win(start);
            pending.put(start, w);
        }
        Bytes idKey = key('I', m.id);
        if (members.fetch(idKey, start) != null) {
            if (replay) {
                return; // replaying the same dead letters twice changes nothing
            }
            // A duplicate changes the record (its duplicates counter): an emitted window is
            // emitted again at the end of the range (docs/semantics.md, reading 1).
            w.duplicates++;
            w.dirty = true;
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
        w.dirty = true;
        // The skew cap: no event moves the watermark past the time its record was written.
        long t = Math.min(m.timeMs, m.refMs);
        if (!w.hasMax || t > w.maxTime) {
            w.hasMax = true;
            w.maxTime = t;
        }
        winStore.put(start, w.toBytes());
        if (!hasMax || t > maxTime) {
            hasMax = true;
            maxTime = t;
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

    /**
     * Fires the windows the watermark has passed, oldest first (their first emission, at once),
     * then forgets those past the horizon.
     */
    private void advance() {
        long wm = maxTime - s.outOfOrdernessMs;
        while (!pending.isEmpty() && pending.firstKey() + s.sizeMs <= wm) {
            Win w = pending.pollFirstEntry().getValue();
            if (w.dirty) {
                // Not dirty only when a shutdown flush already published exactly this state.
                publish(w);
            }
            w.fired = true;
            retained.put(w.start, w);
            winStore.put(w.start, w.toBytes());
        }
        forget();
    }

    /**
     * Drops the fired windows no event can reach any more (end <= maxTime - grace - replay
     * retention), except those holding an unpublished change: the end of the range publishes
     * them first. Their members expire with their window-store segment.
     */
    private void forget() {
        if (!hasMax) {
            return;
        }
        long limit = maxTime - s.keepMs();
        for (Iterator<Win> it = retained.values().iterator(); it.hasNext(); ) {
            Win w = it.next();
            if (w.start + s.sizeMs > limit) {
                break; // ascending starts
            }
            if (!w.dirty) {
                it.remove();
                winStore.delete(w.start);
            }
        }
    }

    /** Publishes every fired window changed since its last emission, oldest first. */
    private int publishChanges() {
        int n = 0;
        for (Win w : retained.values()) {
            if (w.dirty) {
                publish(w);
                winStore.put(w.start, w.toBytes());
                n++;
            }
        }
        if (n > 0) {
            forget();
        }
        return n;
    }

    private void publish(Win w) {
        w.revision++;
        w.dirty = false;
        String key = Rfc3339.format(w.start) + "/" + partition;
        ctx.forward(new Record<Object, Object>(key, w.toJson(s.sizeMs, partition), System.currentTimeMillis()), AGG_SINK);
    }

    /**
     * Shutdown or end of input (streamlab's Engine.Flush): the current range's changes, then
     * every window the watermark has not passed, as it stands. The watermark does not move, so
     * those windows stay open.
     */
    private void flushPending() {
        publishChanges();
        for (Win w : pending.values()) {
            if (w.dirty) {
                publish(w);
                winStore.put(w.start, w.toBytes());
            }
        }
    }

    private void dead(Record<byte[], Msg> rec, Msg m, RecordMetadata md) {
        Headers h = new RecordHeaders();
        String replayCount = Long.toString(replayCount(rec.headers()));
        for (Header in : rec.headers()) {
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
