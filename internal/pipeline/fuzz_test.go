package pipeline

import (
	"bytes"
	"testing"

	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/window"
)

// FuzzPipeline feeds arbitrary logs (lines of arbitrary bytes, arbitrary
// timestamps) to the engine and the oracle and requires identical results:
// no input may crash the pipeline or make it disagree with the contract.
func FuzzPipeline(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"event_id":"123e4567-e89b-12d3-a456-426614174000","event_type":"page_view","event_time":"2026-01-01T00:00:00.000Z","user_id":"u","session_id":"s"}
{"schema_version":1,"event_id":"123e4567-e89b-12d3-a456-426614174001","event_type":"order_placed","event_time":"2026-01-01T00:01:10Z","user_id":"u","session_id":"s","order_id":"o","amount_minor":5,"currency":"EUR"}
{"schema_version":1,"event_id":"123e4567-e89b-12d3-a456-426614174000","event_type":"page_view","event_time":"2026-01-01T00:00:00.000Z","user_id":"u","session_id":"s"}
not json`), int64(1_767_225_700_000), uint8(1), uint8(2))
	f.Add([]byte("\xff\n[]\n{}\n"), int64(0), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, log []byte, ts int64, oooSel, lateSel uint8) {
		if ts > 1<<50 || ts < -(1<<50) {
			return // outside any Kafka timestamp
		}
		cfg := window.Config{SizeMs: 60_000, OutOfOrdernessMs: int64(oooSel%4) * 20_000, AllowedLatenessMs: int64(lateSel%4) * 40_000,
			CoalesceOffsets: []int64{1, 2, 3, 1000}[oooSel/4%4]}
		var msgs []oracle.Message
		for i, line := range bytes.Split(log, []byte("\n")) {
			msgs = append(msgs, oracle.Message{Offset: int64(i), Value: line, TimestampMs: ts + int64(i)*1000})
		}
		want := oracle.Run(oracleConfig(cfg), 3, msgs)
		got := runEngine(t, cfg, msgs, map[int]bool{len(msgs) / 2: true})
		if len(got.emissions) != len(want.Emissions) || len(got.dead) != len(want.DeadLetters) {
			t.Fatalf("engine %d emissions %d dead, oracle %d / %d", len(got.emissions), len(got.dead), len(want.Emissions), len(want.DeadLetters))
		}
		for i := range want.Emissions {
			if ok, diff := oracle.EqualJSON(got.emissions[i], want.Emissions[i]); !ok {
				t.Fatalf("emission %d: %s", i, diff)
			}
		}
		for i, w := range want.DeadLetters {
			if string(got.dead[i].Reason) != w.Reason || got.dead[i].Offset != w.Offset {
				t.Fatalf("dead letter %d: %s@%d, oracle %s@%d", i, got.dead[i].Reason, got.dead[i].Offset, w.Reason, w.Offset)
			}
		}
	})
}
