package kstreamsbench;

import java.time.Duration;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.AutoOffsetReset;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * streamlab's processor as a Kafka Streams application (bench/README.md):
 *
 * <pre>
 * java -jar streamlab-kstreams.jar --bootstrap 127.0.0.1:9092 --app-id bench-1 \
 *     --raw-topic events.raw.v1 --agg-topic ks.agg --dlq-topic ks.dlq \
 *     [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms N] [--state-dir DIR]
 *     [--window-ms 60000] [--out-of-orderness-ms 5000] [--allowed-lateness-ms 120000]
 *     [--max-event-bytes 65536] [--max-future-ms 600000] [--replay-retention-ms 900000]
 *     [--coalesce-offsets 1000] [--cache-bytes N] [--cache-members] [--no-flush-on-shutdown]
 * </pre>
 *
 * SIGTERM flushes the windows the watermark has not passed (like streamlab's
 * --flush-on-shutdown), then closes Kafka Streams cleanly (a final commit).
 */
public final class Main {
    private static final AtomicBoolean FLUSH = new AtomicBoolean();
    private static final Set<PipelineProcessor> LIVE = ConcurrentHashMap.newKeySet();
    private static final Object LOCK = new Object();

    private Main() {}

    static boolean flushRequested() {
        return FLUSH.get();
    }

    /** End of input in offline mode: flush at the next wall-clock punctuation. */
    static void requestFlushForOffline() {
        FLUSH.set(true);
    }

    static void registered(PipelineProcessor p) {
        LIVE.add(p);
    }

    static void unregistered(PipelineProcessor p) {
        LIVE.remove(p);
        flushedOne();
    }

    static void flushedOne() {
        synchronized (LOCK) {
            LOCK.notifyAll();
        }
    }

    public static void main(String[] args) throws Exception {
        Settings s = new Settings();
        String bootstrap = null, appId = null, raw = null, agg = null, dlq = null;
        String guarantee = StreamsConfig.AT_LEAST_ONCE, stateDir = null;
        long commitMs = -1, cacheBytes = -1;
        boolean flushOnShutdown = true;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--no-flush-on-shutdown")) {
                flushOnShutdown = false;
                continue;
            }
            if (a.equals("--cache-members")) {
                s.cacheMembers = true;
                continue;
            }
            if (i + 1 >= args.length) {
                usage("missing value for " + a);
            }
            String v = args[++i];
            switch (a) {
                case "--bootstrap": bootstrap = v; break;
                case "--app-id": appId = v; break;
                case "--raw-topic": raw = v; break;
                case "--agg-topic": agg = v; break;
                case "--dlq-topic": dlq = v; break;
                case "--guarantee":
                    switch (v) {
                        case "alos": case StreamsConfig.AT_LEAST_ONCE: guarantee = StreamsConfig.AT_LEAST_ONCE; break;
                        case "eos": case StreamsConfig.EXACTLY_ONCE_V2: guarantee = StreamsConfig.EXACTLY_ONCE_V2; break;
                        default: usage("--guarantee: at_least_once (alos) or exactly_once_v2 (eos), got " + v);
                    }
                    break;
                case "--commit-interval-ms": commitMs = Long.parseLong(v); break;
                case "--state-dir": stateDir = v; break;
                case "--cache-bytes": cacheBytes = Long.parseLong(v); break;
                case "--window-ms": s.sizeMs = Long.parseLong(v); break;
                case "--out-of-orderness-ms": s.outOfOrdernessMs = Long.parseLong(v); break;
                case "--allowed-lateness-ms": s.allowedLatenessMs = Long.parseLong(v); break;
                case "--max-event-bytes": s.maxEventBytes = Integer.parseInt(v); break;
                case "--max-future-ms": s.maxFutureMs = Long.parseLong(v); break;
                case "--replay-retention-ms": s.replayRetentionMs = Long.parseLong(v); break;
                case "--coalesce-offsets":
                    s.coalesceOffsets = Long.parseLong(v);
                    if (s.coalesceOffsets < 1) {
                        usage("--coalesce-offsets must be at least 1");
                    }
                    break;
                default: usage("unknown flag " + a);
            }
        }
        if (bootstrap == null || appId == null || raw == null || agg == null || dlq == null) {
            usage("--bootstrap, --app-id, --raw-topic, --agg-topic and --dlq-topic are required");
        }

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        if (commitMs >= 0) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        }
        if (stateDir != null) {
            p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        }
        if (cacheBytes >= 0) {
            p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);
        }
        // Records carry the event clock as timestamp; keep the window store's changelog as
        // long as the raw topic (the default adds one day to a retention measured from 2026-01).
        p.put(StreamsConfig.WINDOW_STORE_CHANGE_LOG_ADDITIONAL_RETENTION_MS_CONFIG, Duration.ofDays(3650).toMillis());
        // A dead letter carries an oversized value (up to 64 KiB + 1000 bytes) plus headers.
        p.put(StreamsConfig.producerPrefix("max.request.size"), 4 << 20);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        KafkaStreams streams = new KafkaStreams(topology(s, raw, agg, dlq), p);
        CountDownLatch done = new CountDownLatch(1);
        final boolean flush = flushOnShutdown;
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("streamlab-kstreams: stream thread failed: " + e);
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (flush && streams.state() == KafkaStreams.State.RUNNING) {
                FLUSH.set(true);
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                synchronized (LOCK) {
                    while (LIVE.stream().anyMatch(x -> !x.isFlushed()) && System.nanoTime() < deadline) {
                        try {
                            LOCK.wait(50);
                        } catch (InterruptedException e) {
                            break;
                        }
                    }
                }
            }
            boolean closed = streams.close(Duration.ofSeconds(60));
            done.countDown();
            // A JVM stopped by SIGTERM exits with 143 even after a clean shutdown; say
            // which it was. halt() is allowed in a shutdown hook and ends the JVM here.
            Runtime.getRuntime().halt(closed && streams.state() != KafkaStreams.State.ERROR ? 0 : 1);
        }, "shutdown"));
        streams.start();
        System.err.println("streamlab-kstreams: started " + appId + " (" + guarantee + ", grace "
                + s.graceMs() + "ms, replay retention " + s.replayRetentionMs + "ms, coalescing "
                + s.coalesceOffsets + " offsets) on " + raw + " -> " + agg + ", " + dlq);
        done.await();
        if (streams.state() == KafkaStreams.State.ERROR) {
            System.exit(1);
        }
    }

    /** The topology with RocksDB stores, as run against a broker. */
    static Topology topology(Settings s, String raw, String agg, String dlq) {
        return topology(s, raw, agg, dlq, true);
    }

    /**
     * persistent=false swaps in Kafka Streams' in-memory stores (same interfaces, same
     * processor); Offline uses them because TopologyTestDriver commits, and so flushes RocksDB
     * to disk, after every single record.
     */
    static Topology topology(Settings s, String raw, String agg, String dlq, boolean persistent) {
        Topology t = new Topology();
        t.addSource(AutoOffsetReset.earliest(), "raw", new EventTimeExtractor(s.maxFutureMs),
                new ByteArrayDeserializer(), new MsgDeserializer(s.maxEventBytes), raw);
        t.addProcessor("pipeline", () -> new PipelineProcessor(s), "raw");
        t.addStateStore(Stores.keyValueStoreBuilder(persistent
                        ? Stores.persistentKeyValueStore(PipelineProcessor.WIN_STORE)
                        : Stores.inMemoryKeyValueStore(PipelineProcessor.WIN_STORE),
                Serdes.Long(), Serdes.ByteArray()).withCachingEnabled(), "pipeline");
        // Members of a window are needed until it is forgotten (end + grace + replay retention
        // behind the capped stream time). The store expires by the highest window start put
        // into it, which is an event time and may run up to max-future ahead of the capped
        // stream time (a skewed event): so that much more, plus one window, then it drops
        // whole segments.
        Duration retention = Duration.ofMillis(2 * s.sizeMs + s.keepMs() + s.maxFutureMs);
        StoreBuilder<WindowStore<Bytes, byte[]>> members = Stores.windowStoreBuilder(persistent
                        ? Stores.persistentWindowStore(PipelineProcessor.MEMBERS_STORE, retention, Duration.ofMillis(s.sizeMs), false)
                        : Stores.inMemoryWindowStore(PipelineProcessor.MEMBERS_STORE, retention, Duration.ofMillis(s.sizeMs), false),
                Serdes.Bytes(), Serdes.ByteArray());
        t.addStateStore(s.cacheMembers ? members.withCachingEnabled() : members, "pipeline");
        t.addSink(PipelineProcessor.AGG_SINK, agg, new StringSerializer(), new ByteArraySerializer(), "pipeline");
        t.addSink(PipelineProcessor.DLQ_SINK, dlq, new ByteArraySerializer(), new ByteArraySerializer(), "pipeline");
        return t;
    }

    private static void usage(String msg) {
        System.err.println("streamlab-kstreams: " + msg);
        System.err.println("usage: java -jar streamlab-kstreams.jar --bootstrap HOST:PORT --app-id ID --raw-topic T --agg-topic T --dlq-topic T"
                + " [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms N] [--state-dir DIR] [--cache-bytes N]"
                + " [--window-ms N] [--out-of-orderness-ms N] [--allowed-lateness-ms N] [--max-event-bytes N] [--max-future-ms N]"
                + " [--replay-retention-ms N] [--coalesce-offsets N]"
                + " [--cache-members] [--no-flush-on-shutdown]");
        System.exit(2);
    }
}
