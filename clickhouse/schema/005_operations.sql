-- 005: what an operator needs on top of 001-004: durable inserts, rejected
-- records counted once however often they are re-produced, and which windows
-- every source partition has reported. A new file rather than edits to the
-- applied ones: Apply refuses a changed file (docs/clickhouse.md §2).

-- Durable inserts (docs/clickhouse.md §5, "Crashes"). The Kafka engine
-- commits a block's offsets once the block is written to every view. A
-- written part is in the page cache, which survives a crash of the server
-- process but not of the machine: after a power loss the part can be gone
-- while Kafka already holds the commit, and nothing would ever deliver those
-- records again. With these two settings an INSERT returns only after the
-- part's files and its directory entry are on disk, so a committed offset
-- always means a durable row. The Kafka engine inserts one block per table
-- per flush (kafka_flush_interval_ms), so the cost is a few fsyncs a second
-- at most. ALTER ... MODIFY SETTING is idempotent and also reaches tables
-- created before this file existed.
ALTER TABLE {{.Database}}.aggregates MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE {{.Database}}.dead_letters MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE {{.Database}}.alerts MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
ALTER TABLE {{.Database}}.ingest_rejects MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;

-- One row per distinct rejected record. ingest_rejects collapses a
-- redelivery (same Kafka coordinates), but a record re-produced to its
-- topic (the duplicate-delivery drill, a restore, a processor re-emitting
-- after a crash) arrives at new coordinates and is stored again. A record is
-- its topic, key and value and, since the value alone does not say why it
-- was rejected (a dead letter's context is in its headers), the reason: two
-- copies with the same four are one bad record. copies counts the
-- coordinates it arrived at; the first one is kept to find it in Kafka.
CREATE VIEW IF NOT EXISTS {{.Database}}.ingest_rejects_latest AS
SELECT
    topic,
    reason,
    any(k)                                                AS key,
    any(v)                                                AS value,
    count()                                               AS copies,
    tupleElement(min((kafka_partition, kafka_offset)), 1) AS first_kafka_partition,
    tupleElement(min((kafka_partition, kafka_offset)), 2) AS first_kafka_offset,
    min(ingested_at)                                      AS first_ingested_at
-- Renamed in a subquery, so that the output names key and value cannot be
-- taken for the columns the GROUP BY hashes.
FROM (SELECT topic, reason, key AS k, value AS v, kafka_partition, kafka_offset, ingested_at FROM {{.Database}}.ingest_rejects FINAL)
GROUP BY topic, reason, sipHash128(k, v);

-- A source partition reports a window when its own watermark passes the
-- window's end (or on a graceful shutdown's flush), and it does so in window
-- order. So once every partition has reported some window at or after W,
-- every partition that had events in W has reported W: W is complete. A
-- newer window is still partial, and a "latest window" number taken from it
-- would show a fraction of the truth. Complete is not final: an allowed-late
-- event can still revise a complete window (a new revision, same window).
-- max() over the stored copies needs no FINAL: a copy's window_start is its
-- key.
CREATE VIEW IF NOT EXISTS {{.Database}}.window_complete_until AS
SELECT min(newest) AS window_start
FROM (SELECT source_partition, max(window_start) AS newest FROM {{.Database}}.aggregates GROUP BY source_partition);

CREATE VIEW IF NOT EXISTS {{.Database}}.window_completeness AS
SELECT
    window_start,
    partitions,
    (SELECT uniqExact(source_partition) FROM {{.Database}}.aggregates)         AS partitions_seen,
    toUInt8(window_start <= (SELECT window_start FROM {{.Database}}.window_complete_until)) AS complete
FROM (SELECT window_start, partitions FROM {{.Database}}.window_totals);
