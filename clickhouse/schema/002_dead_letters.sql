-- 002: dead letters (contract §8) from the dead-letter topic.
--
-- A dead letter's value is the original message byte for byte (possibly not
-- UTF-8, possibly over 64 KiB) and its context travels in Kafka headers
-- (dlq.reason, dlq.error, dlq.source.*, dlq.failed_at, dlq.event_time,
-- dlq.replay_count). RawBLOB keeps the value untouched in a String column
-- (ClickHouse strings are bytes) and the headers come from the Kafka engine's
-- _headers.name / _headers.value virtual columns.
--
-- Deduplication: a dead letter is identified by the raw message it came from
-- (source topic, partition, offset). Redelivery by the Kafka engine and
-- re-emission by a restarted processor both produce the same identity;
-- ReplacingMergeTree keeps one row per identity and every reader goes through
-- FINAL. The version is (replay_count, earliest failed_at): failed_at is the
-- processor's wall clock, so a re-emitted copy carries a later time, and
-- always keeping the earliest makes the per-minute panels independent of how
-- often and in what order the copies arrived.

CREATE TABLE IF NOT EXISTS {{.Database}}.dead_letters_parsed
(
    source_topic     String,
    source_partition Int32,
    source_offset    Int64,
    replay_count     UInt32,
    reason           String,
    error            String,
    failed_at        Nullable(DateTime64(3, 'UTC')),
    event_time       Nullable(DateTime64(3, 'UTC')),
    key              String,
    value            String,
    kafka_partition  UInt64,
    kafka_offset     UInt64,
    reject_reason    String
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS {{.Database}}.dead_letters
(
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64,
    replay_count     UInt32,
    reason           LowCardinality(String),
    error            String,
    failed_at        DateTime64(3, 'UTC'),
    event_time       Nullable(DateTime64(3, 'UTC')),
    key              String,
    value            String,
    value_bytes      UInt64 MATERIALIZED length(value),
    kafka_partition  UInt64,
    kafka_offset     UInt64,
    -- Highest replay_count wins; among equal ones the earliest failure.
    -- failed_at in ms fits in 44 bits until the year 2527.
    version          UInt64 MATERIALIZED bitShiftLeft(toUInt64(replay_count), 44) + (bitShiftLeft(toUInt64(1), 44) - 1 - toUInt64(greatest(toUnixTimestamp64Milli(failed_at), 0))),
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (source_topic, source_partition, source_offset);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.dead_letters_mv TO {{.Database}}.dead_letters AS
SELECT
    source_topic, source_partition, source_offset, replay_count, reason, error,
    assumeNotNull(failed_at) AS failed_at, event_time, key, value, kafka_partition, kafka_offset
FROM {{.Database}}.dead_letters_parsed
WHERE reject_reason = '';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.dead_letters_reject_mv TO {{.Database}}.ingest_rejects AS
SELECT
    {{sq .DLQTopic}} AS topic,
    kafka_partition,
    kafka_offset,
    reject_reason AS reason,
    key,
    value
FROM {{.Database}}.dead_letters_parsed
WHERE reject_reason != '';

-- Consuming starts with the view below; see 001 for why it comes last.
{{if .StandIn -}}
CREATE TABLE IF NOT EXISTS {{.Database}}.dead_letters_queue
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
CREATE TABLE IF NOT EXISTS {{.Database}}.dead_letters_queue
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{sq .BrokerList}},
    kafka_topic_list = {{sq .DLQTopic}},
    kafka_group_name = {{sq .DLQGroup}},
    kafka_format = 'RawBLOB',
    kafka_num_consumers = 1,
    kafka_flush_interval_ms = {{.FlushIntervalMs}};
{{- end}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.dead_letters_parse_mv TO {{.Database}}.dead_letters_parsed AS
WITH
    -- A missing header reads as '' (index 0 of an array is its default).
    _headers.value[indexOf(_headers.name, 'dlq.reason')]           AS h_reason,
    _headers.value[indexOf(_headers.name, 'dlq.error')]            AS h_error,
    _headers.value[indexOf(_headers.name, 'dlq.source.topic')]     AS h_topic,
    _headers.value[indexOf(_headers.name, 'dlq.source.partition')] AS h_partition,
    _headers.value[indexOf(_headers.name, 'dlq.source.offset')]    AS h_offset,
    _headers.value[indexOf(_headers.name, 'dlq.failed_at')]        AS h_failed_at,
    _headers.value[indexOf(_headers.name, 'dlq.event_time')]       AS h_event_time,
    _headers.value[indexOf(_headers.name, 'dlq.replay_count')]     AS h_replay_count,
    toInt32OrNull(h_partition)                                     AS partition_n,
    toInt64OrNull(h_offset)                                        AS offset_n,
    parseDateTime64BestEffortOrNull(h_failed_at, 3, 'UTC')         AS failed_at_t
SELECT
    h_topic                                                  AS source_topic,
    ifNull(partition_n, -1)                                  AS source_partition,
    ifNull(offset_n, -1)                                     AS source_offset,
    ifNull(toUInt32OrNull(h_replay_count), 0)                AS replay_count,
    h_reason                                                 AS reason,
    h_error                                                  AS error,
    failed_at_t                                              AS failed_at,
    parseDateTime64BestEffortOrNull(h_event_time, 3, 'UTC')  AS event_time,
    _key                                                     AS key,
    raw                                                      AS value,
    _partition                                               AS kafka_partition,
    _offset                                                  AS kafka_offset,
    multiIf(
        h_reason = '',                        'no dlq.reason header',
        h_topic = '',                         'no dlq.source.topic header',
        partition_n IS NULL,                  'dlq.source.partition is not an integer',
        offset_n IS NULL,                     'dlq.source.offset is not an integer',
        failed_at_t IS NULL,                  'dlq.failed_at is not a timestamp',
        '') AS reject_reason
FROM {{.Database}}.dead_letters_queue;

-- The deduplicated dead letters.
CREATE VIEW IF NOT EXISTS {{.Database}}.dead_letters_latest AS
SELECT
    source_topic, source_partition, source_offset, replay_count, reason, error,
    failed_at, event_time, key, value, value_bytes
FROM {{.Database}}.dead_letters FINAL;

-- Dead letters by reason per minute of failure (processor wall clock).
CREATE VIEW IF NOT EXISTS {{.Database}}.dead_letters_per_minute AS
SELECT toStartOfMinute(failed_at) AS minute, reason, count() AS dead_letters
FROM {{.Database}}.dead_letters FINAL
GROUP BY minute, reason;
