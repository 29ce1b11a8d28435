package pipeline

import (
	"runtime"
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/window"
)

func benchLog(b *testing.B, n int, chaos bool) []Message {
	cfg := gen.DefaultConfig()
	if !chaos {
		cfg.Disorder, cfg.AllowedLate, cfg.TooLate, cfg.Duplicate, cfg.Malformed, cfg.Oversized, cfg.Future = 0, 0, 0, 0, 0, 0, 0
	}
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]Message, n)
	for i := range msgs {
		m := g.Next()
		msgs[i] = Message{Offset: int64(i), Key: m.Key, Value: m.Value, RefMs: m.ProducedAt.UnixMilli()}
	}
	return msgs
}

// benchmarkPipeline measures parse + validate + aggregate per event on one
// core, emissions encoded into a reused buffer (what the processor and the
// offline command do), dead letters built but not encoded. allocs/event is
// the exact mean (allocs/op rounds down).
func benchmarkPipeline(b *testing.B, chaos bool) {
	msgs := benchLog(b, 200_000, chaos)
	var bytes int64
	for _, m := range msgs {
		bytes += int64(len(m.Value))
	}
	var buf []byte
	emit := func(v *aggregate.View) { buf = v.AppendJSON(buf[:0]) }
	dead := func(*deadletter.Letter) {}
	b.SetBytes(bytes / int64(len(msgs)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var p *Partition
	for i := 0; i < b.N; i++ {
		j := i % len(msgs)
		if j == 0 {
			b.StopTimer()
			var err error
			if p, err = NewPartition(window.DefaultConfig(), event.DefaultLimits(), 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		p.Process(&msgs[j], emit, dead)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/event")
}

func BenchmarkPipelineValid(b *testing.B) { benchmarkPipeline(b, false) }
func BenchmarkPipelineChaos(b *testing.B) { benchmarkPipeline(b, true) }

func BenchmarkParseOnly(b *testing.B) {
	msgs := benchLog(b, 100_000, false)
	lim := event.DefaultLimits()
	var ev event.Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &msgs[i%len(msgs)]
		if rej := event.Parse(m.Value, m.RefMs, lim, &ev); rej != nil {
			b.Fatal(rej)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
