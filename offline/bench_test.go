package offline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/window"
)

// benchLog is the log both benchmarks read: the file named by
// OFFLINE_BENCH_LOG (e.g. the 1M-line log of `make bench`), or else 200 000
// generated lines (gen defaults, chaos included).
var benchLog = sync.OnceValue(func() []byte {
	if path := os.Getenv("OFFLINE_BENCH_LOG"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		return b
	}
	g, err := gen.New(gen.DefaultConfig())
	if err != nil {
		panic(err)
	}
	var b bytes.Buffer
	for range 200_000 {
		b.Write(g.Next().Value)
		b.WriteByte('\n')
	}
	return b.Bytes()
})

// naiveDecode is the yardstick of issue 13: read the lines and decode each
// into a map with encoding/json, nothing else.
func naiveDecode(log []byte) (objects int) {
	r := bufio.NewReaderSize(bytes.NewReader(log), 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var m map[string]any
			if json.Unmarshal(line, &m) == nil {
				objects++
			}
		}
		if err != nil {
			return objects
		}
	}
}

// BenchmarkOfflineVsNaive runs `streamlab process` (Run, default settings,
// both outputs written to io.Discard) and the naive decode loop on the same
// log (benchLog), alternating within each iteration so that both see the
// same machine. time-ratio is process time / naive time; the target is
// ≤ 0.5. Run it on one core:
//
//	go test -run '^$' -bench OfflineVsNaive -benchtime 5x -cpu 1 ./offline
//	OFFLINE_BENCH_LOG=log.jsonl go test -run '^$' -bench OfflineVsNaive -benchtime 2x -cpu 1 ./offline
func BenchmarkOfflineVsNaive(b *testing.B) {
	log := benchLog()
	lines := int64(bytes.Count(log, []byte("\n")))
	if len(log) > 0 && log[len(log)-1] != '\n' {
		lines++
	}
	cfg := Config{Window: window.DefaultConfig(), Limits: event.DefaultLimits(), Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	var proc, naive time.Duration
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		sum, err := Run(context.Background(), cfg, bytes.NewReader(log), io.Discard, io.Discard)
		if err != nil || sum.Lines != lines {
			b.Fatalf("Run: %v, %d lines", err, sum.Lines)
		}
		t1 := time.Now()
		if naiveDecode(log) == 0 {
			b.Fatal("naive loop decoded nothing")
		}
		proc, naive = proc+t1.Sub(t0), naive+time.Since(t1)
	}
	n := float64(int64(b.N) * lines)
	b.ReportMetric(float64(proc.Nanoseconds())/n, "process-ns/line")
	b.ReportMetric(float64(naive.Nanoseconds())/n, "naive-ns/line")
	b.ReportMetric(proc.Seconds()/naive.Seconds(), "time-ratio")
}

// BenchmarkOffline is Run alone, for profiling:
// go test -run '^$' -bench 'Offline$' -cpu 1 -cpuprofile cpu.out ./offline
func BenchmarkOffline(b *testing.B) {
	log := benchLog()
	cfg := Config{Window: window.DefaultConfig(), Limits: event.DefaultLimits(), Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	var lines int64
	for range b.N {
		sum, err := Run(context.Background(), cfg, bytes.NewReader(log), io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		lines += sum.Lines
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
