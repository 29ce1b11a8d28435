package kstreamsbench;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.processor.TimestampExtractor;

/**
 * Event time, capped at the record's Kafka timestamp, for valid events; dead letters never move
 * stream time.
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
        m.refMs = ref;
        if (m.reason == null && m.timeMs > ref + maxFutureMs) {
            m.reject(Msg.FUTURE_EVENT, "event_time " + Rfc3339.format(m.timeMs) + " is more than "
                    + maxFutureMs + "ms after the reference time " + Rfc3339.format(ref));
        }
        // Stream time follows streamlab's watermark before the out-of-orderness: no event moves
        // it past the time its record was written (the skew cap). The processor keeps its own
        // maximum all the same, over counted events only.
        long capped = Math.min(m.timeMs, ref);
        if (m.reason == null && capped >= 0) {
            return capped;
        }
        // A dead letter (or an event before 1970, which Kafka Streams would drop for its
        // negative timestamp; the processor windows it by m.timeMs all the same) keeps the
        // partition's time, so it does not advance stream time. Before the first valid
        // record that is unknown (-1) and the record's own timestamp stands in.
        return partitionTime >= 0 ? partitionTime : Math.max(ref, 0);
    }
}
