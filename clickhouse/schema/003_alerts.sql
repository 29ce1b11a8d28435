-- 003: alerts from the alerts topic (written by the dispatcher), shown as
-- Grafana annotations.
--
-- An alerts.v1 record is a JSON object: schema_version, alert_id, rule,
-- dimension, incident_id, status ("firing" or "resolved"), severity, title,
-- summary, value, baseline, threshold, window_start, window_end, fired_at,
-- grafana_url; its key is "rule/incident_id". Every message has its own
-- alert_id, so a redelivered message collapses onto its first copy.

CREATE TABLE IF NOT EXISTS {{.Database}}.alerts_parsed
(
    alert_id        String,
    rule            String,
    dimension       String,
    incident_id     String,
    status          String,
    severity        String,
    title           String,
    summary         String,
    value           Float64,
    baseline        Float64,
    threshold       Float64,
    window_start    Nullable(DateTime64(3, 'UTC')),
    window_end      Nullable(DateTime64(3, 'UTC')),
    fired_at        Nullable(DateTime64(3, 'UTC')),
    grafana_url     String,
    kafka_partition UInt64,
    kafka_offset    UInt64,
    kafka_key       String,
    raw             String,
    reject_reason   String
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS {{.Database}}.alerts
(
    alert_id        String,
    rule            LowCardinality(String),
    dimension       String,
    incident_id     String,
    status          LowCardinality(String),
    severity        LowCardinality(String),
    title           String,
    summary         String,
    value           Float64,
    baseline        Float64,
    threshold       Float64,
    window_start    Nullable(DateTime64(3, 'UTC')),
    window_end      Nullable(DateTime64(3, 'UTC')),
    fired_at        DateTime64(3, 'UTC'),
    grafana_url     String,
    kafka_partition UInt64,
    kafka_offset    UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY alert_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.alerts_mv TO {{.Database}}.alerts AS
SELECT
    alert_id, rule, dimension, incident_id, status, severity, title, summary,
    value, baseline, threshold, window_start, window_end,
    assumeNotNull(fired_at) AS fired_at, grafana_url, kafka_partition, kafka_offset
FROM {{.Database}}.alerts_parsed
WHERE reject_reason = '';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.alerts_reject_mv TO {{.Database}}.ingest_rejects AS
SELECT
    {{sq .AlertsTopic}} AS topic,
    kafka_partition,
    kafka_offset,
    reject_reason AS reason,
    kafka_key     AS key,
    raw           AS value
FROM {{.Database}}.alerts_parsed
WHERE reject_reason != '';

-- Consuming starts with the view below; see 001 for why it comes last.
{{if .StandIn -}}
CREATE TABLE IF NOT EXISTS {{.Database}}.alerts_queue
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
CREATE TABLE IF NOT EXISTS {{.Database}}.alerts_queue
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{sq .BrokerList}},
    kafka_topic_list = {{sq .AlertsTopic}},
    kafka_group_name = {{sq .AlertsGroup}},
    kafka_format = 'RawBLOB',
    kafka_num_consumers = 1,
    kafka_flush_interval_ms = {{.FlushIntervalMs}};
{{- end}}

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Database}}.alerts_parse_mv TO {{.Database}}.alerts_parsed AS
WITH
    JSONExtract(raw, 'Tuple(schema_version Int64, alert_id String, rule String, dimension String, incident_id String, status String, severity String, title String, summary String, value Float64, baseline Float64, threshold Float64, window_start String, window_end String, fired_at String, grafana_url String)') AS r,
    parseDateTime64BestEffortOrNull(r.fired_at, 3, 'UTC') AS fired
SELECT
    r.alert_id    AS alert_id,
    r.rule        AS rule,
    r.dimension   AS dimension,
    r.incident_id AS incident_id,
    r.status      AS status,
    r.severity    AS severity,
    r.title       AS title,
    r.summary     AS summary,
    r.value       AS value,
    r.baseline    AS baseline,
    r.threshold   AS threshold,
    parseDateTime64BestEffortOrNull(r.window_start, 3, 'UTC') AS window_start,
    parseDateTime64BestEffortOrNull(r.window_end, 3, 'UTC')   AS window_end,
    fired         AS fired_at,
    r.grafana_url AS grafana_url,
    _partition    AS kafka_partition,
    _offset       AS kafka_offset,
    _key          AS kafka_key,
    raw,
    multiIf(
        NOT isValidJSON(raw),                       'not a JSON document',
        r.schema_version != 1,                      'schema_version is not 1',
        r.alert_id = '',                            'no alert_id',
        r.status NOT IN ('firing', 'resolved'),     'status is neither firing nor resolved',
        fired IS NULL,                              'fired_at is not a timestamp',
        '') AS reject_reason
FROM {{.Database}}.alerts_queue;

-- One row per incident: when it fired, when (if yet) it resolved, and what
-- the firing message said. Grafana draws it as a region annotation.
CREATE VIEW IF NOT EXISTS {{.Database}}.alert_incidents AS
SELECT
    rule,
    incident_id,
    minIf(fired_at, status = 'firing')                          AS started_at,
    if(countIf(status = 'resolved') > 0, maxIf(fired_at, status = 'resolved'), NULL) AS resolved_at,
    argMinIf(severity, fired_at, status = 'firing')             AS severity,
    argMinIf(title, fired_at, status = 'firing')                AS title,
    argMinIf(summary, fired_at, status = 'firing')              AS summary,
    argMinIf(dimension, fired_at, status = 'firing')            AS dimension,
    argMinIf(grafana_url, fired_at, status = 'firing')          AS grafana_url
FROM {{.Database}}.alerts FINAL
GROUP BY rule, incident_id
HAVING countIf(status = 'firing') > 0;
