-- 004: views for the Pipeline dashboard that combine aggregates and dead
-- letters.

-- Every raw message has exactly one outcome (contract §5, G1): counted in a
-- window, a duplicate, or a dead letter with its reason. Counted and
-- duplicate messages are placed at their window's start (event time); dead
-- letters at the minute they failed (processing time), because a dead
-- letter's event time is often unknown (malformed JSON, oversized). Summed
-- over all time, the outcomes are the raw messages processed.
-- The explicit casts give the three branches one type per column.
CREATE VIEW IF NOT EXISTS {{.Database}}.message_outcomes AS
SELECT window_start AS time, 'counted' AS outcome, toInt64(events) AS messages
FROM {{.Database}}.window_totals
UNION ALL
SELECT window_start AS time, 'duplicate' AS outcome, toInt64(duplicates) AS messages
FROM {{.Database}}.window_totals
UNION ALL
SELECT toDateTime64(minute, 3, 'UTC') AS time, toString(reason) AS outcome, toInt64(dead_letters) AS messages
FROM {{.Database}}.dead_letters_per_minute;
