package kstreamsbench;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;

/**
 * The Kafka Streams topology on a file, like `streamlab process` (brief §9): every line is one
 * raw value of partition 0, its 0-based index is its offset, every record's timestamp is --now.
 * Runs in Kafka Streams' TopologyTestDriver (no broker; in-memory stores, see Main.topology). Writes every
 * aggregate emission in order (one JSON per line) and one line per dead letter:
 * {"reason":...,"source_offset":...}. bench/benchtool compares both with streamlab's output.
 *
 * <pre>java -cp streamlab-kstreams.jar kstreamsbench.Offline INPUT NOW_RFC3339 AGG_OUT DLQ_OUT [STATE_DIR]</pre>
 */
public final class Offline {
    private Offline() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 4) {
            System.err.println("usage: Offline INPUT NOW_RFC3339 AGG_OUT DLQ_OUT [STATE_DIR]");
            System.exit(2);
        }
        Settings s = new Settings();
        long now = Instant.parse(args[1]).toEpochMilli();
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "streamlab-kstreams-offline");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        if (args.length > 4) {
            p.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
        }
        int lines = 0;
        try (TopologyTestDriver d = new TopologyTestDriver(Main.topology(s, "raw", "agg", "dlq", false), p, Instant.ofEpochMilli(now));
             InputStream in = Files.newInputStream(Path.of(args[0]));
             OutputStream aggOut = new BufferedOutputStream(Files.newOutputStream(Path.of(args[2])), 1 << 16);
             OutputStream dlqOut = new BufferedOutputStream(Files.newOutputStream(Path.of(args[3])), 1 << 16)) {
            TestInputTopic<byte[], byte[]> raw = d.createInputTopic("raw", new ByteArraySerializer(), new ByteArraySerializer());
            TestOutputTopic<String, byte[]> agg = d.createOutputTopic("agg", new StringDeserializer(), new ByteArrayDeserializer());
            TestOutputTopic<byte[], byte[]> dlq = d.createOutputTopic("dlq", new ByteArrayDeserializer(), new ByteArrayDeserializer());
            byte[] buf = in.readAllBytes();
            int from = 0;
            for (int i = 0; i <= buf.length; i++) {
                if (i == buf.length && from == i) {
                    break;
                }
                if (i == buf.length || buf[i] == '\n') {
                    byte[] line = java.util.Arrays.copyOfRange(buf, from, i);
                    raw.pipeInput(new TestRecord<byte[], byte[]>(null, line, Instant.ofEpochMilli(now)));
                    lines++;
                    from = i + 1;
                    if ((lines & 1023) == 0) {
                        drain(agg, dlq, aggOut, dlqOut);
                    }
                }
            }
            // End of input: what streamlab's offline mode does at the end of the file.
            Main.requestFlushForOffline();
            d.advanceWallClockTime(Duration.ofMillis(100));
            drain(agg, dlq, aggOut, dlqOut);
        }
        System.err.println("streamlab-kstreams offline: " + lines + " lines");
    }

    private static void drain(TestOutputTopic<String, byte[]> agg, TestOutputTopic<byte[], byte[]> dlq,
                              OutputStream aggOut, OutputStream dlqOut) throws IOException {
        while (!agg.isEmpty()) {
            aggOut.write(agg.readValue());
            aggOut.write('\n');
        }
        while (!dlq.isEmpty()) {
            TestRecord<byte[], byte[]> r = dlq.readRecord();
            String reason = header(r, "dlq.reason"), offset = header(r, "dlq.source.offset");
            dlqOut.write(("{\"reason\":\"" + reason + "\",\"source_offset\":" + offset + "}\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    private static String header(TestRecord<byte[], byte[]> r, String key) {
        Header h = r.headers().lastHeader(key);
        return h == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
    }
}
