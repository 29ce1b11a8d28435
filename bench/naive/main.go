// Command naive is the benchmark's baseline (bench/README.md): it decodes every
// line of a JSON-lines file of raw message values with encoding/json into a
// map[string]any and reads its event_time, the least a consumer of these
// events must do. The CPU time of that loop per line is what bench/kafka.sh
// divides the processor's CPU per event by.
//
//	taskset -c 1 go run ./bench/naive events.jsonl
//
// The file is read into memory first; only the decode loop is measured
// (getrusage, user + system). It prints one JSON object on stdout.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "naive: getrusage:", err)
		os.Exit(1)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: naive FILE.jsonl")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(1)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	runtime.GC()

	var invalid, withTime, timeBytes int
	c0, t0 := cpu(), time.Now()
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			invalid++
			continue
		}
		if s, ok := m["event_time"].(string); ok {
			withTime++
			timeBytes += len(s)
		}
	}
	wall, used := time.Since(t0), cpu()-c0

	n := len(lines)
	out, _ := json.Marshal(map[string]any{
		"lines":              n,
		"not_json_objects":   invalid,
		"with_event_time":    withTime,
		"event_time_bytes":   timeBytes,
		"wall_seconds":       wall.Seconds(),
		"cpu_seconds":        used.Seconds(),
		"cpu_us_per_event":   float64(used.Microseconds()) / float64(max(n, 1)),
		"events_per_cpu_sec": float64(n) / max(used.Seconds(), 1e-9),
		"gomaxprocs":         runtime.GOMAXPROCS(0),
	})
	fmt.Println(string(out))
}
