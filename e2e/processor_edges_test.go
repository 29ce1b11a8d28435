//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/retry"
)

var waitingRE = regexp.MustCompile(`check the topics on Kafka at \S+: not available yet; retrying`)

// TestProcessorWaitsForTheBroker: a processor started while the broker is
// down (compose starts everything at once) waits, saying so once, and
// works when the broker comes up: the log it then processes gives the
// oracle's result.
func TestProcessorWaitsForTheBroker(t *testing.T) {
	brokers(t) // the suite's broker must be there, as for every test
	const partitions = 2
	ctx := testContext(t, 8*time.Minute)
	k := startOwnBroker(t)
	b := k.bootstrap
	ts := newTopicSet(t, "wait")
	createTopics(t, b, ts, partitions)
	runRole(t, "producer", 2*time.Minute, producerArgs(b, ts, 3000, 41, logStart)...)
	k.run(t, "stop")

	group := uniqueName(t, "group")
	p := startRole(t, "processor", processorArgs(b, ts, group, "--connect-timeout", "5m")...)
	p.waitLog(t, waitingRE, 1, time.Minute)
	t0 := time.Now()
	k.run(t, "start")
	t.Logf("broker back after %s", time.Since(t0).Round(time.Millisecond))
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, p.alive)
	p.stop(t, time.Minute)
	t.Logf("processor output:\n%s", p.out.tail(20))
	if n := len(waitingRE.FindAllString(p.out.String(), -1)); n > 3 {
		t.Errorf("the wait for the broker took %d log lines, want one per change of state:\n%s", n, p.out.tail(20))
	}
	e := expect(ts.Raw, readTopic(t, ctx, b, ts.Raw, partitions), oracle.DefaultConfig())
	e.verifyRun(t, ctx, b, ts, partitions)
}

// stopsWithin runs a processor that must stop on its own with a non-zero
// exit and a message matching fix. It logs how long that took and how many
// lines it printed (the issue measured 681 lines in 30 s before), and
// requires few lines: one message, no rebalance loop.
func stopsWithin(t *testing.T, name string, fix *regexp.Regexp, args ...string) {
	t.Helper()
	start := time.Now()
	p := startRole(t, name, args...)
	err := p.wait(t, 2*time.Minute)
	took := time.Since(start)
	out := p.out.String()
	lines := strings.Count(out, "\n")
	t.Logf("%s exited after %s with %v, %d log lines:\n%s", name, took.Round(10*time.Millisecond), err, lines, out)
	if err == nil {
		t.Fatalf("%s exited 0; want a failure", name)
	}
	if !fix.MatchString(out) {
		t.Errorf("%s: no message matching %q", name, fix)
	}
	if lines > 6 {
		t.Errorf("%s printed %d lines; want one error, not a loop", name, lines)
	}
}

// TestProcessorStopsOnMissingOutputTopic: an aggregate topic that does not
// exist is a configuration to fix, not a reason to retry or rebalance.
func TestProcessorStopsOnMissingOutputTopic(t *testing.T) {
	b := brokers(t)
	ts := newTopicSet(t, "missing")
	createTopics(t, b, ts, 2)
	runRole(t, "producer", 2*time.Minute, producerArgs(b, ts, 500, 42, logStart)...)
	args := processorArgs(b, ts, uniqueName(t, "group"), "--agg-topic", ts.Agg+".not-created")
	stopsWithin(t, "processor", regexp.MustCompile(`does not exist.*streamlab topics create`), args...)
}

// TestProcessorStopsOnForeignStateTopic: a second group on a state topic
// that holds the first group's checkpoints stops at once instead of
// cycling through generations.
func TestProcessorStopsOnForeignStateTopic(t *testing.T) {
	b := brokers(t)
	const partitions = 2
	ctx := testContext(t, 5*time.Minute)
	ts := newTopicSet(t, "foreign")
	createTopics(t, b, ts, partitions)
	runRole(t, "producer", 2*time.Minute, producerArgs(b, ts, 2000, 43, logStart)...)
	first := uniqueName(t, "first")
	p := startRole(t, "first group", processorArgs(b, ts, first)...)
	waitConsumed(t, ctx, b, first, ts.Raw, partitions, 2*time.Minute, p.alive)
	p.stop(t, time.Minute)
	stopsWithin(t, "second group", regexp.MustCompile(`another group's checkpoints.*its own state topic`),
		processorArgs(b, ts, uniqueName(t, "second"))...)
}

// TestHugeRawValueDoesNotStallItsPartition: a 5 MB value on a raw topic
// whose limit was raised is bigger than the DLQ topic accepts. Its dead
// letter is written with the value cut to fit and headers saying so, and
// the events behind it are processed.
func TestHugeRawValueDoesNotStallItsPartition(t *testing.T) {
	b := brokers(t)
	const partitions = 1
	ctx := testContext(t, 5*time.Minute)
	ts := newTopicSet(t, "huge")
	createTopics(t, b, ts, partitions)
	const rawLimit = 8 << 20
	resp, err := client(b).IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: ts.Raw,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "max.message.bytes", Value: strconv.Itoa(rawLimit), ConfigOperation: kafka.ConfigOperationSet}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("raise max.message.bytes of %s: %v", ts.Raw, r.Error)
		}
	}

	// Before, the huge value and behind it: generated events.
	runRole(t, "producer (before)", 2*time.Minute, producerArgs(b, ts, 1000, 44, logStart)...)
	huge := make([]byte, 5<<20)
	for i := range huge {
		huge[i] = byte('a' + i%26)
	}
	w := kafkaio.NewWriter(strings.Split(b, ","), ts.Raw)
	w.BatchBytes = rawLimit
	// A writer's first metadata may not know a topic created a moment ago.
	if _, err := retry.Do(ctx, retry.DefaultPolicy(), nil, "write the 5 MB value", kafkaio.Transient, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, w.WriteMessages(ctx, kafka.Message{Key: []byte("huge"), Value: huge, Headers: []kafka.Header{{Key: "origin", Value: []byte("e2e")}}})
	}); err != nil {
		t.Fatalf("the raw topic's limit is %d: %v", rawLimit, err)
	}
	w.Close()
	runRole(t, "producer (after)", 2*time.Minute, producerArgs(b, ts, 1000, 45, "2026-01-01T01:00:00Z")...)

	group := uniqueName(t, "group")
	p := startRole(t, "processor", processorArgs(b, ts, group, "--metrics-addr", "127.0.0.1:0")...)
	metrics := "http://" + p.metricsAddr(t) + "/metrics"
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, p.alive)
	if got := scrape(t, metrics, "streamlab_processor_dead_letters_truncated_total"); got != 1 {
		t.Errorf("streamlab_processor_dead_letters_truncated_total = %v, want 1", got)
	}
	p.stop(t, time.Minute)
	if !strings.Contains(p.out.String(), "value cut to fit") {
		t.Errorf("no warning at start that big dead letters are cut; output:\n%s", p.out.tail(20))
	}

	raw := readTopic(t, ctx, b, ts.Raw, partitions)
	var hugeOffset int64 = -1
	for _, m := range raw[0] {
		if len(m.Value) == len(huge) {
			hugeOffset = m.Offset
		}
	}
	e := expect(ts.Raw, raw, oracle.DefaultConfig())
	agg := readAggregates(t, ctx, b, ts.Agg, partitions)
	e.checkAggregates(t, agg, true)
	dlq := readDLQ(t, ctx, b, ts.DLQ, partitions)
	l := dlq.letters[srcKey{ts.Raw, 0, hugeOffset}]
	if l == nil {
		t.Fatalf("no dead letter for the 5 MB value at offset %d", hugeOffset)
	}
	sum := sha256.Sum256(huge)
	headers := map[string]string{}
	for _, m := range readTopic(t, ctx, b, ts.DLQ, partitions)[0] {
		if len(m.Value) > 1<<20 {
			for _, h := range m.Headers {
				headers[h.Key] = string(h.Value)
			}
		}
	}
	if l.Reason != "oversized" || len(l.Value) >= len(huge) || !bytes.Equal(l.Value, huge[:len(l.Value)]) {
		t.Errorf("dead letter of the 5 MB value: reason %s, %d value bytes; want oversized with a prefix of the value", l.Reason, len(l.Value))
	}
	if headers["dlq.value.truncated_from"] != strconv.Itoa(len(huge)) || headers["dlq.value.sha256"] != hex.EncodeToString(sum[:]) || headers["origin"] != "e2e" {
		t.Errorf("dead letter headers %v: want the original size %d, its SHA-256 and the record's own header", headers, len(huge))
	}
	// Every other message: the oracle's decision.
	delete(dlq.letters, srcKey{ts.Raw, 0, hugeOffset})
	n := 0
	for _, r := range e.res {
		n += len(r.DeadLetters)
	}
	if len(dlq.letters) != n-1 {
		t.Errorf("%d other dead letters, oracle %d", len(dlq.letters), n-1)
	}
}

// scrape reads one unlabelled sample from a /metrics page.
func scrape(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("%s not on %s", name, url)
	return 0
}
