package kstreamsbench;

/**
 * One raw message as the topology sees it: the original value bytes plus what validation made
 * of them. {@link MsgDeserializer} fills everything that depends on the value alone (brief §5
 * outcomes 1-4); {@link EventTimeExtractor} adds future_event, which needs the record's own
 * Kafka timestamp; {@link PipelineProcessor} decides late / duplicate / counted.
 */
final class Msg {
    // Dead-letter reasons (brief §5), in check order.
    static final String OVERSIZED = "oversized";
    static final String INVALID_JSON = "invalid_json";
    static final String UNSUPPORTED_SCHEMA = "unsupported_schema";
    static final String SCHEMA_VIOLATION = "schema_violation";
    static final String FUTURE_EVENT = "future_event";
    static final String LATE_EVENT = "late_event";

    // Event types of schema v1, in streamlab's order (internal/event/event.go).
    static final String[] TYPES = {
        "page_view", "product_view", "add_to_cart", "checkout_started",
        "order_placed", "payment_failed", "order_refunded",
    };
    static final int PAGE_VIEW = 0, PRODUCT_VIEW = 1, ADD_TO_CART = 2, CHECKOUT_STARTED = 3,
            ORDER_PLACED = 4, PAYMENT_FAILED = 5, ORDER_REFUNDED = 6, NUM_TYPES = 7;

    /** The original value, byte for byte (null stays null). */
    final byte[] raw;

    /** Null while the message is usable; else the dead-letter reason. */
    String reason;
    String detail;

    /** event_time in Unix ms, when it parsed (also on some dead letters). */
    boolean hasTime;
    long timeMs;

    /**
     * The record's own Kafka timestamp (offline: --now), kept by {@link EventTimeExtractor}: after
     * it, the record's timestamp is the one the extractor returned. A counted event moves the
     * watermark to at most min(event_time, refMs) (the skew cap, docs/semantics.md).
     */
    long refMs;

    // Valid events only.
    final byte[] id = new byte[16];
    int type;
    String userId;
    String sessionId;
    String productId;
    String orderId;
    long amountMinor;
    String currency;

    Msg(byte[] raw) {
        this.raw = raw;
    }

    void reject(String reason, String detail) {
        this.reason = reason;
        this.detail = detail;
    }

    static boolean isOrder(int t) {
        return t >= ORDER_PLACED && t < NUM_TYPES;
    }

    static boolean needsProduct(int t) {
        return t == PRODUCT_VIEW || t == ADD_TO_CART;
    }
}
