-- 001: window aggregates (contract §7) from the aggregate topic.
--
-- Path of a record: Kafka topic -> agg_window_queue (Kafka engine, one row per
-- message, value as raw bytes) -> agg_window_parse_mv -> agg_window_parsed
-- (Null: parsed once, validated once, nothing stored) -> aggregates (good
-- records) or ingest_rejects (anything else).
--
-- The Kafka engine is at-least-once: after a crash between writing a block
-- and committing its offsets, the block is delivered again; the processor
-- also re-emits identical records after a restart, and anyone may re-produce
-- the topic. None of that matters: aggregates is a ReplacingMergeTree keyed
-- by (window_start, source_partition) and versioned by revision, and every
-- reader goes through FINAL, so a row stands for "the newest revision of one
-- window of one source partition", however often it was delivered and in
-- whatever order its revisions arrived.
--
-- Placeholders are filled by clickhouse.Render (text/template).

-- Rows rejected by any of the ingest views, deduplicated by their Kafka
-- coordinates so redelivery does not inflate the count. It should stay empty.
CREATE TABLE IF NOT EXISTS {{.Database}}.ingest_rejects
(
    topic           LowCardinality(String),
    kafka_partition UInt64,
    kafka_offset    UInt64,
    reason          LowCardinality(String),
    key             String,
    value           String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, kafka_partition, kafka_offset);

CREATE TABLE IF NOT EXISTS {{.Database}}.agg_window_parsed
(
    window_start     Nullable(DateTime64(3, 'UTC')),
    window_end       Nullable(DateTime64(3, 'UTC')),
    source_partition Int32,
    revision         UInt64,
    events           Int64,
    events_by_type   Map(String, Int64),
    users            Int64,
    sessions         Int64,
    orders           Int64,
    revenue_minor    Map(String, Int64),
    refunds          Int64,
    refunded_minor   Map(String, Int64),
    payment_failures Int64,
    funnel           Map(String, Int64),
    product_views    Map(String, Int64),
    late_accepted    Int64,
    duplicates       Int64,
    kafka_partition  UInt64,
    kafka_offset     UInt64,
    kafka_key        String,
    raw              String,
    reject_reason    String
)
ENGINE = Null;

-- One row per (window, source partition); ReplacingMergeTree keeps the row
-- with the highest revision. Equal revisions are byte-identical re-emissions
-- (contract G2), so which copy survives does not matter. The partition key is a
-- function of the sorting key, so all copies of a row share a partition and
-- merges (and FINAL) can always collapse them.
CREATE TABLE IF NOT EXISTS {{.Database}}.aggregates
(
    window_start     DateTime64(3, 'UTC'),
    window_end       DateTime64(3, 'UTC'),
    source_partition Int32,
    revision         UInt64,
    events           Int64,
    events_by_type   Map(String, Int64),
    users            Int64,
    sessions         Int64,
    orders           Int64,
    revenue_minor    Map(String, Int64),
    refunds          Int64,
    refunded_minor   Map(String, Int64),
    payment_failures Int64,
    funnel           Map(String, Int64),
    product_views    Map(String, Int64),
    late_accepted    Int64,
    duplicates       Int64,
    kafka_partition  UInt64,
    kafka_offset     UInt64,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, source_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.agg_window_mv TO {{.Database}}.aggregates AS
SELECT
    assumeNotNull(window_start) AS window_start,
    assumeNotNull(window_end)   AS window_end,
    source_partition, revision, events, events_by_type, users, sessions, orders,
    revenue_minor, refunds, refunded_minor, payment_failures, funnel, product_views,
    late_accepted, duplicates, kafka_partition, kafka_offset
FROM {{.Database}}.agg_window_parsed
WHERE reject_reason = '';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.agg_window_reject_mv TO {{.Database}}.ingest_rejects AS
SELECT
    {{sq .AggTopic}} AS topic,
    kafka_partition,
    kafka_offset,
    reject_reason AS reason,
    kafka_key     AS key,
    raw           AS value
FROM {{.Database}}.agg_window_parsed
WHERE reject_reason != '';

-- The Kafka table starts consuming as soon as a materialized view reads
-- from it, so it and its view come last: every table and view downstream
-- must exist by then, or the first blocks would be consumed, committed and
-- lost.
{{if .StandIn -}}
-- Stand-in for the Kafka engine table: the same columns, including the
-- Kafka engine's virtual ones, on a Null table that tests insert into.
CREATE TABLE IF NOT EXISTS {{.Database}}.agg_window_queue
(
    raw           String,
    _topic        LowCardinality(String),
    _key          String,
    _partition    UInt64,
    _offset       UInt64,
    _timestamp_ms Nullable(DateTime64(3)),
    _headers      Nested(name String, value String)
)
ENGINE = Null;
{{- else -}}
-- RawBLOB turns each message into one row whatever its bytes, so a malformed
-- record can never stall the consumer; the parse view decides what it is.
CREATE TABLE IF NOT EXISTS {{.Database}}.agg_window_queue
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{sq .BrokerList}},
    kafka_topic_list = {{sq .AggTopic}},
    kafka_group_name = {{sq .AggGroup}},
    kafka_format = 'RawBLOB',
    kafka_num_consumers = 1,
    kafka_flush_interval_ms = {{.FlushIntervalMs}};
{{- end}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.agg_window_parse_mv TO {{.Database}}.agg_window_parsed AS
WITH
    -- One parse per message; a missing or mistyped field becomes its type's
    -- default and is caught by the checks below.
    JSONExtract(raw, 'Tuple(schema_version Int64, window_start String, window_end String, source_partition Int32, revision Int64, events Int64, events_by_type Map(String, Int64), users Int64, sessions Int64, orders Int64, revenue_minor Map(String, Int64), refunds Int64, refunded_minor Map(String, Int64), payment_failures Int64, funnel Map(String, Int64), product_views Map(String, Int64), late_accepted Int64, duplicates Int64)') AS r,
    parseDateTime64BestEffortOrNull(r.window_start, 3, 'UTC') AS ws,
    parseDateTime64BestEffortOrNull(r.window_end, 3, 'UTC') AS we
SELECT
    ws                 AS window_start,
    we                 AS window_end,
    r.source_partition AS source_partition,
    toUInt64(greatest(r.revision, 0)) AS revision,
    r.events           AS events,
    r.events_by_type   AS events_by_type,
    r.users            AS users,
    r.sessions         AS sessions,
    r.orders           AS orders,
    r.revenue_minor    AS revenue_minor,
    r.refunds          AS refunds,
    r.refunded_minor   AS refunded_minor,
    r.payment_failures AS payment_failures,
    r.funnel           AS funnel,
    r.product_views    AS product_views,
    r.late_accepted    AS late_accepted,
    r.duplicates       AS duplicates,
    _partition         AS kafka_partition,
    _offset            AS kafka_offset,
    _key               AS kafka_key,
    raw,
    multiIf(
        NOT isValidJSON(raw),          'not a JSON document',
        r.schema_version != 1,         'schema_version is not 1',
        ws IS NULL,                    'window_start is not a timestamp',
        we IS NULL OR we <= ws,        'window_end is not a timestamp after window_start',
        r.revision < 1,                'revision is not a positive integer',
        '') AS reject_reason
FROM {{.Database}}.agg_window_queue;

-- The newest revision of every (window, source partition). FINAL merges the
-- copies at read time, so the answer is exact whether or not background
-- merges have run yet (docs/clickhouse.md: FINAL versus argMax).
CREATE VIEW IF NOT EXISTS {{.Database}}.aggregates_latest AS
SELECT
    window_start, window_end, source_partition, revision, events, events_by_type,
    users, sessions, orders, revenue_minor, refunds, refunded_minor, payment_failures,
    funnel, product_views, late_accepted, duplicates
FROM {{.Database}}.aggregates FINAL;

-- Per-window totals over source partitions. Every sum is exact: counts and
-- money add up across partitions, and so do distinct users and sessions
-- because raw events are keyed by user_id (contract §3), which puts each user
-- and each session in exactly one partition.
CREATE VIEW IF NOT EXISTS {{.Database}}.window_totals AS
SELECT
    window_start,
    max(window_end)          AS window_end,
    count()                  AS partitions,
    sum(revision)            AS emissions,
    sum(events)              AS events,
    sumMap(events_by_type)   AS events_by_type,
    sum(users)               AS users,
    sum(sessions)            AS sessions,
    sum(orders)              AS orders,
    sumMap(revenue_minor)    AS revenue_minor,
    sum(refunds)             AS refunds,
    sumMap(refunded_minor)   AS refunded_minor,
    sum(payment_failures)    AS payment_failures,
    sumMap(funnel)           AS funnel,
    sumMap(product_views)    AS product_views,
    sum(late_accepted)       AS late_accepted,
    sum(duplicates)          AS duplicates
FROM {{.Database}}.aggregates FINAL
GROUP BY window_start;

-- Money per window and currency, in exact minor units plus the ISO 4217
-- exponent needed to show major units (JPY and KRW have none, BHD/KWD/OMR/
-- JOD/TND three, everything else the generator emits two). The views below
-- read only the columns they need in a subquery, so their own column names
-- (revenue_minor, events, sessions) cannot be mistaken for window_totals'.
CREATE VIEW IF NOT EXISTS {{.Database}}.window_revenue AS
SELECT
    window_start,
    currency,
    transform(currency, ['JPY', 'KRW', 'ISK', 'CLP', 'VND', 'BHD', 'KWD', 'OMR', 'JOD', 'TND'], [0, 0, 0, 0, 0, 3, 3, 3, 3, 3], 2) AS exponent,
    revenue[currency]  AS revenue_minor,
    refunded[currency] AS refunded_minor
FROM (SELECT window_start, revenue_minor AS revenue, refunded_minor AS refunded FROM {{.Database}}.window_totals)
ARRAY JOIN arrayDistinct(arrayConcat(mapKeys(revenue), mapKeys(refunded))) AS currency;

CREATE VIEW IF NOT EXISTS {{.Database}}.window_event_types AS
SELECT window_start, event_type, events
FROM (SELECT window_start, events_by_type AS by_type FROM {{.Database}}.window_totals)
ARRAY JOIN mapKeys(by_type) AS event_type, mapValues(by_type) AS events;

CREATE VIEW IF NOT EXISTS {{.Database}}.window_product_views AS
SELECT window_start, product_id, views
FROM (SELECT window_start, product_views AS by_product FROM {{.Database}}.window_totals)
ARRAY JOIN mapKeys(by_product) AS product_id, mapValues(by_product) AS views;

-- Funnel steps in funnel order: sessions per window that reached each step.
CREATE VIEW IF NOT EXISTS {{.Database}}.window_funnel AS
SELECT window_start, step_index, step, steps[step] AS sessions
FROM (SELECT window_start, funnel AS steps FROM {{.Database}}.window_totals)
ARRAY JOIN
    ['product_view', 'add_to_cart', 'checkout_started', 'order_placed'] AS step,
    [1, 2, 3, 4] AS step_index;
