//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
)

var producedRE = regexp.MustCompile(`produced (\d+) messages in (\S+) \((\d+)/s\)`)

// TestThroughput measures the pipeline on the real broker: the producer
// writing E2E_BENCH_EVENTS generated events (default 1,000,000), then one
// processor consuming them from scratch to its last checkpoint, with the CPU
// time the broker JVM and the processor spent. It is a measurement, not a
// scenario: it runs only with E2E_BENCH=1.
//
//	E2E_BENCH=1 KAFKA_BOOTSTRAP=... KAFKA_DIR=... go test -tags e2e -count=1 -run TestThroughput -v -timeout 30m ./e2e/
func TestThroughput(t *testing.T) {
	if os.Getenv("E2E_BENCH") != "1" {
		t.Skip("throughput benchmark not requested: set E2E_BENCH=1 to run it (size: E2E_BENCH_EVENTS, default 1000000)")
	}
	n := 1_000_000
	if s := os.Getenv("E2E_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("E2E_BENCH_EVENTS=%q: want a positive integer", s)
		}
		n = v
	}
	const partitions = 3
	b := brokers(t)
	ctx := testContext(t, 28*time.Minute)
	ts := newTopicSet(t, "bench")
	createTopics(t, b, ts, partitions)
	broker, err := brokerPID(b)
	if err != nil {
		t.Logf("broker CPU will not be measured: %v", err)
	}
	brokerCPU := func() time.Duration {
		if broker == 0 {
			return 0
		}
		d, err := procCPU(broker)
		if err != nil {
			t.Logf("broker CPU: %v", err)
		}
		return d
	}

	// Production: the default event density (200 events per simulated
	// second) and chaos ratios, as fast as the broker takes them.
	cpu0 := brokerCPU()
	t0 := time.Now()
	prod := runRole(t, "producer", 20*time.Minute, "producer", "--brokers", b, "--raw-topic", ts.Raw, "--rate", "0",
		"--count", strconv.Itoa(n), "--seed", "1", "--start", logStart, "--metrics-addr", "")
	prodWall := time.Since(t0)
	cpu1 := brokerCPU()
	prodRate := "?"
	if m := producedRE.FindStringSubmatch(prod.out.String()); m != nil {
		prodRate = m[3]
	}

	// Processing from scratch with the production defaults (a checkpoint
	// per partition every 5 s of input, writing the windows that changed).
	// Done means every partition's end offset is committed, which happens
	// right after the checkpoint covering it.
	group := uniqueName(t, "group")
	args := append([]string{"processor", "--brokers", b, "--group", group, "--metrics-addr", "", "--session-timeout", "6s"}, ts.flags()...)
	t1 := time.Now()
	p := startRole(t, "processor", args...)
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 25*time.Minute, p.alive)
	procWall := time.Since(t1)
	cpu2 := brokerCPU()
	p.stop(t, 2*time.Minute)

	// G1 on the full run, from the processor's own outputs.
	agg := readAggregates(t, ctx, b, ts.Agg, partitions)
	dlq := readDLQ(t, ctx, b, ts.DLQ, partitions)
	var events, dups int64
	for _, rec := range agg.latest {
		r, err := aggregate.Unmarshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		events += r.Events
		dups += r.Duplicates
	}
	if got := events + dups + int64(len(dlq.letters)); got != int64(n) {
		t.Errorf("G1: produced %d != counted %d + duplicates %d + dead-lettered %d", n, events, dups, len(dlq.letters))
	}

	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds()) }
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d events, %d partitions, one broker, %d CPUs\n", n, partitions, runtime.NumCPU())
	fmt.Fprintf(&sb, "%-34s %12s %12s %14s %14s\n", "phase", "wall", "events/s", "role CPU", "broker CPU")
	fmt.Fprintf(&sb, "%-34s %12s %12s %14s %14s\n", "producer (incl. process start)", prodWall.Round(time.Millisecond), rate(prodWall), prod.cpu().Round(time.Millisecond), (cpu1 - cpu0).Round(10*time.Millisecond))
	fmt.Fprintf(&sb, "%-34s %12s %12s\n", "producer (its own count)", "", prodRate+"/s")
	fmt.Fprintf(&sb, "%-34s %12s %12s %14s %14s\n", "processor (start to last commit)", procWall.Round(time.Millisecond), rate(procWall), p.cpu().Round(time.Millisecond), (cpu2 - cpu1).Round(10*time.Millisecond))
	fmt.Fprintf(&sb, "processor CPU per 1M events: %s; outputs: %d aggregate records, %d dead letters; counted %d, duplicates %d\n",
		(p.cpu() * time.Duration(1_000_000) / time.Duration(n)).Round(time.Millisecond), agg.read, len(dlq.letters), events, dups)
	if broker == 0 {
		sb.WriteString("broker CPU not measured (set KAFKA_DIR to the broker's directory)\n")
	}
	var checkpoints, stateBytes int
	for _, msgs := range readTopic(t, ctx, b, ts.State, partitions) {
		for _, m := range msgs {
			stateBytes += len(m.Key) + len(m.Value)
			if bytes.HasSuffix(m.Key, []byte("|c")) {
				checkpoints++
			}
		}
	}
	fmt.Fprintf(&sb, "state topic: %d checkpoints, %d bytes written (%d per checkpoint)\n", checkpoints, stateBytes, stateBytes/max(checkpoints, 1))
	t.Log(sb.String())
}

// brokerPID finds the broker's JVM: from $KAFKA_DIR/kafka.pid (written by
// scripts/kafka/kafka.sh), else the kafka.Kafka process whose
// server.properties listens on the bootstrap port.
func brokerPID(bootstrap string) (int, error) {
	if dir := os.Getenv("KAFKA_DIR"); dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "kafka.pid"))
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	_, port, err := net.SplitHostPort(strings.Split(bootstrap, ",")[0])
	if err != nil {
		return 0, err
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		raw, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(raw), "kafka.Kafka") {
			continue
		}
		for _, arg := range strings.Split(string(raw), "\x00") {
			if !strings.HasSuffix(arg, "server.properties") {
				continue
			}
			props, err := os.ReadFile(arg)
			if err == nil && (strings.Contains(string(props), ":"+port+"\n") || strings.Contains(string(props), ":"+port+",")) {
				return strconv.Atoi(filepath.Base(filepath.Dir(f)))
			}
		}
	}
	return 0, fmt.Errorf("no kafka.Kafka process listens on port %s (set KAFKA_DIR)", port)
}
