package pipeline

import (
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
// core; emissions are built (a window's record) but not encoded.
func benchmarkPipeline(b *testing.B, chaos bool) {
	msgs := benchLog(b, 200_000, chaos)
	var bytes int64
	for _, m := range msgs {
		bytes += int64(len(m.Value))
	}
	emit := func(*aggregate.View) {}
	dead := func(*deadletter.Letter) {}
	b.SetBytes(bytes / int64(len(msgs)))
	b.ReportAllocs()
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
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
