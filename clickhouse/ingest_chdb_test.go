//go:build chdb

package clickhouse

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

func dlqMsg(l *deadletter.Letter, offset uint64) kafkaMsg {
	m := kafkaMsg{topic: "events.dlq.v1", partition: uint64(l.Partition), offset: offset, key: l.Key, value: l.Value}
	for _, h := range l.Headers() {
		m.headers = append(m.headers, header{h.Key, string(h.Value)})
	}
	return m
}

func TestDeadLettersKeepBytesAndDeduplicate(t *testing.T) {
	p := standIn("t_dlq")
	c := freshSchema(t, p)
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	big := bytes.Repeat([]byte(`{"pad":"x"}`), 7000) // 77 KB, over the 64 KiB event limit
	letters := []*deadletter.Letter{
		{Reason: event.InvalidJSON, Error: "not UTF-8", Topic: "events.raw.v1", Partition: 0, Offset: 5,
			FailedAt: base, Key: []byte("u1"), Value: []byte{0xff, 0xfe, '{', 0x00, '\n'}},
		{Reason: event.Oversized, Error: "78000 bytes", Topic: "events.raw.v1", Partition: 1, Offset: 9,
			FailedAt: base.Add(time.Second), Key: nil, Value: big},
		{Reason: event.LateEvent, Error: "window closed", Topic: "events.raw.v1", Partition: 2, Offset: 40,
			FailedAt: base.Add(70 * time.Second), EventTimeMs: base.Add(-time.Hour).UnixMilli(), HasEventTime: true,
			Key: []byte("u3"), Value: []byte(`{"event_id":"late"}`)},
		{Reason: event.LateEvent, Error: "window closed again", Topic: "events.raw.v1", Partition: 2, Offset: 77,
			FailedAt: base.Add(75 * time.Second), EventTimeMs: base.Add(-time.Hour).UnixMilli(), HasEventTime: true,
			ReplayCount: 1, Key: []byte("u3"), Value: []byte(`{"event_id":"late"}`)},
	}
	var msgs []kafkaMsg
	for i, l := range letters {
		msgs = append(msgs, dlqMsg(l, uint64(i)))
	}
	feed(t, c, "t_dlq.dead_letters_queue", msgs)

	// Redelivery: the Kafka engine repeats the first letter as is; a
	// restarted processor re-emits the late one with a later failed_at,
	// and that copy arrives first in its block.
	again := *letters[2]
	again.FailedAt = base.Add(10 * time.Minute)
	feed(t, c, "t_dlq.dead_letters_queue", []kafkaMsg{dlqMsg(&again, 10), dlqMsg(letters[0], 0)})
	// A message without the dead-letter headers is not a dead letter.
	feed(t, c, "t_dlq.dead_letters_queue", []kafkaMsg{{topic: "events.dlq.v1", partition: 0, offset: 11, value: []byte("stray")}})

	rows := mustQuery(t, c, `SELECT source_partition, source_offset, reason, error, replay_count, failed_at, event_time,
		hex(key) AS key_hex, hex(value) AS value_hex, value_bytes FROM t_dlq.dead_letters_latest ORDER BY source_partition, source_offset`)
	if len(rows) != len(letters) {
		t.Fatalf("dead_letters_latest has %d rows, want %d: %v", len(rows), len(letters), rows)
	}
	for i, l := range letters {
		r := rows[i]
		want := map[string]any{
			"source_partition": fmt.Sprint(l.Partition), "source_offset": fmt.Sprint(l.Offset), "reason": string(l.Reason),
			"error": l.Error, "replay_count": fmt.Sprint(l.ReplayCount),
			"failed_at": l.FailedAt.Format("2006-01-02 15:04:05.000"),
			"key_hex":   strings.ToUpper(hex.EncodeToString(l.Key)), "value_hex": strings.ToUpper(hex.EncodeToString(l.Value)),
			"value_bytes": fmt.Sprint(len(l.Value)),
		}
		for k, v := range want {
			if got := fmt.Sprint(r[k]); got != v {
				t.Errorf("letter %d %s = %.80s, want %.80s", i, k, got, v)
			}
		}
		wantET := "<nil>"
		if l.HasEventTime {
			wantET = time.UnixMilli(l.EventTimeMs).UTC().Format("2006-01-02 15:04:05.000")
		}
		if got := fmt.Sprint(r["event_time"]); got != wantET {
			t.Errorf("letter %d event_time = %s, want %s", i, got, wantET)
		}
	}
	assertJSONRows(t, mustQuery(t, c, "SELECT minute, reason, dead_letters FROM t_dlq.dead_letters_per_minute ORDER BY minute, reason"), []string{
		`{"minute":"2026-01-01 10:00:00","reason":"invalid_json","dead_letters":1}`,
		`{"minute":"2026-01-01 10:00:00","reason":"oversized","dead_letters":1}`,
		`{"minute":"2026-01-01 10:01:00","reason":"late_event","dead_letters":2}`,
	})
	assertJSONRows(t, mustQuery(t, c, "SELECT topic, kafka_offset, reason, value FROM t_dlq.ingest_rejects FINAL"), []string{
		`{"topic":"events.dlq.v1","kafka_offset":11,"reason":"no dlq.reason header","value":"stray"}`,
	})
}

func TestAlertsBecomeIncidents(t *testing.T) {
	p := standIn("t_alerts")
	c := freshSchema(t, p)
	alert := func(id, incident, status, firedAt string) kafkaMsg {
		v := fmt.Sprintf(`{"schema_version":1,"alert_id":%q,"rule":"dlq_spike","dimension":"reason=late_event","incident_id":%q,`+
			`"status":%q,"severity":"warning","title":"Dead letters spiking","summary":"12 late events in a minute","value":12,`+
			`"baseline":1.5,"threshold":10,"window_start":"2026-01-01T10:00:00.000Z","window_end":"2026-01-01T10:01:00.000Z",`+
			`"fired_at":%q,"grafana_url":"http://localhost:3000/d/streamlab-dead-letters"}`, id, incident, status, firedAt)
		return kafkaMsg{topic: "alerts.v1", key: []byte("dlq_spike/" + incident), value: []byte(v)}
	}
	msgs := []kafkaMsg{
		alert("a1", "i1", "firing", "2026-01-01T10:01:05.000Z"),
		alert("a2", "i1", "resolved", "2026-01-01T10:09:00.000Z"),
		alert("a3", "i2", "firing", "2026-01-01T11:00:00.000Z"),
		{topic: "alerts.v1", value: []byte(`{"schema_version":1,"alert_id":"x","status":"pending","fired_at":"2026-01-01T10:00:00Z"}`)},
	}
	for i := range msgs {
		msgs[i].offset = uint64(i)
	}
	feed(t, c, "t_alerts.alerts_queue", msgs)
	feed(t, c, "t_alerts.alerts_queue", msgs[:2]) // redelivered
	assertJSONRows(t, mustQuery(t, c, "SELECT incident_id, started_at, resolved_at, severity, title FROM t_alerts.alert_incidents ORDER BY incident_id"), []string{
		`{"incident_id":"i1","started_at":"2026-01-01 10:01:05.000","resolved_at":"2026-01-01 10:09:00.000","severity":"warning","title":"Dead letters spiking"}`,
		`{"incident_id":"i2","started_at":"2026-01-01 11:00:00.000","resolved_at":null,"severity":"warning","title":"Dead letters spiking"}`,
	})
	assertJSONRows(t, mustQuery(t, c, "SELECT count() AS n FROM t_alerts.alerts FINAL"), []string{`{"n":3}`})
	assertJSONRows(t, mustQuery(t, c, "SELECT reason FROM t_alerts.ingest_rejects FINAL"), []string{`{"reason":"status is neither firing nor resolved"}`})
}

// TestIngestRejectsCountEachRecordOnce: a bad record redelivered at the
// same coordinates, or re-produced to its topic at new ones, is one reject;
// two different bad records are two, even with the same reason.
func TestIngestRejectsCountEachRecordOnce(t *testing.T) {
	p := standIn("t_rejects")
	c := freshSchema(t, p)
	bad := func(offset uint64, value string) kafkaMsg {
		return kafkaMsg{topic: "agg.window.v1", partition: 1, offset: offset, key: []byte("k"), value: []byte(value)}
	}
	stray := func(offset uint64) kafkaMsg {
		return kafkaMsg{topic: "events.dlq.v1", partition: 2, offset: offset, key: []byte("u1"), value: []byte("no headers")}
	}
	feed(t, c, "t_rejects.agg_window_queue", []kafkaMsg{bad(3, "not json"), bad(4, "{}")})
	feed(t, c, "t_rejects.agg_window_queue", []kafkaMsg{bad(3, "not json")})                 // redelivered
	feed(t, c, "t_rejects.agg_window_queue", []kafkaMsg{bad(90, "not json"), bad(91, "{}")}) // re-produced
	feed(t, c, "t_rejects.dead_letters_queue", []kafkaMsg{stray(7), stray(8)})               // the same bytes twice on the DLQ
	assertJSONRows(t, mustQuery(t, c, "SELECT count() AS stored FROM t_rejects.ingest_rejects FINAL"), []string{`{"stored":6}`})
	assertJSONRows(t, mustQuery(t, c, `SELECT topic, reason, value, copies, first_kafka_partition, first_kafka_offset
		FROM t_rejects.ingest_rejects_latest ORDER BY topic, first_kafka_offset`), []string{
		`{"topic":"agg.window.v1","reason":"not a JSON document","value":"not json","copies":2,"first_kafka_partition":1,"first_kafka_offset":3}`,
		`{"topic":"agg.window.v1","reason":"schema_version is not 1","value":"{}","copies":2,"first_kafka_partition":1,"first_kafka_offset":4}`,
		`{"topic":"events.dlq.v1","reason":"no dlq.reason header","value":"no headers","copies":2,"first_kafka_partition":2,"first_kafka_offset":7}`,
	})
}
