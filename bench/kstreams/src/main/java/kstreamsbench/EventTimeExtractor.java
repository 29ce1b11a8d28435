package kstreamsbench;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Event time for valid events; dead letters never move stream time.
 *
 * <p>It also decides future_event (event_time later than the record's Kafka timestamp plus the
 * max skew, brief §5), because this is the last place that sees the Kafka timestamp: once the
 * extractor has run, the record's timestamp is the one returned here.
 */
final class EventTimeExtractor implements TimestampExtractor {
    private final long maxFutureMs;

    EventTimeExtractor(long maxFutureMs) {
        this.maxFutureMs = maxFutureMs;
    }

    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
        Msg m = (Msg) record.value();
        long ref = record.timestamp();
        if (m.reason == null && m.timeMs > ref + maxFutureMs) {
            m.reject(Msg.FUTURE_EVENT, "event_time " + Rfc3339.format(m.timeMs) + " is more than "
                    + maxFutureMs + "ms after the reference time " + Rfc3339.format(ref));
        }
        if (m.reason == null && m.timeMs >= 0) {
            return m.timeMs;
        }
        // A dead letter (or an event before 1970, which Kafka Streams would drop for its
        // negative timestamp; the processor windows it by m.timeMs all the same) keeps the
        // partition's time, so it does not advance stream time. Before the first valid
        // record that is unknown (-1) and the record's own timestamp stands in.
        return partitionTime >= 0 ? partitionTime : Math.max(ref, 0);
    }
}
