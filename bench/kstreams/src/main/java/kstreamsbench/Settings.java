package kstreamsbench;

/** Window and validation settings, streamlab's defaults unless overridden on the command line. */
final class Settings {
    long sizeMs = 60_000;
    long outOfOrdernessMs = 5_000;
    long allowedLatenessMs = 120_000;
    int maxEventBytes = 65536;
    long maxFutureMs = 600_000;
    /** How long past the allowed lateness windows are kept for replayed dead letters (--replay-retention). */
    long replayRetentionMs = 900_000;
    /** Length of the aligned ranges of source offsets upserts are coalesced over (--coalesce-offsets). */
    long coalesceOffsets = 1000;
    /** Kafka Streams' record cache in front of the members store (off: its keys are mostly new). */
    boolean cacheMembers = false;

    /**
     * Kafka Streams' grace period that matches streamlab's lateness rule. streamlab: an event
     * is late when W >= end + lateness, W = max event time - out-of-orderness. Kafka Streams'
     * windowed aggregation: a record is dropped when end <= streamTime - grace. Both are the
     * same inequality with grace = lateness + out-of-orderness (2 min 5 s).
     */
    long graceMs() {
        return allowedLatenessMs + outOfOrdernessMs;
    }

    /**
     * How long past its end a window is kept: a replayed dead letter (dlq.replay_count > 0) may
     * still update it until end <= maxTime - grace - replay retention (streamlab's horizon).
     */
    long keepMs() {
        return graceMs() + replayRetentionMs;
    }
}
