//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The heal-or-stop policy (internal/retry) of the producer, chaos and
// topics create, on a real broker: transient errors are waited out with
// one log line per change of state, permanent ones stop at once with the
// fix, and nothing the producer writes is deleted behind its back.

// ownBroker is a broker of the test's own, in a directory that keeps its
// port and data across stop and start, so that roles can be started
// before it is up.
type ownBroker struct {
	dir, bootstrap string
}

func kafkaScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../scripts/kafka/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (k *ownBroker) run(t *testing.T, verb string) {
	t.Helper()
	out, err := exec.Command(kafkaScript(t), verb, "--dir", k.dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kafka.sh %s: %v\n%s", verb, err, out)
	}
	if m := regexp.MustCompile(`KAFKA_BOOTSTRAP=(\S+)`).FindSubmatch(out); m != nil {
		k.bootstrap = string(m[1])
	}
}

func startOwnBroker(t *testing.T) *ownBroker {
	t.Helper()
	k := &ownBroker{dir: t.TempDir()}
	k.run(t, "start")
	if k.bootstrap == "" {
		t.Fatal("kafka.sh start did not print KAFKA_BOOTSTRAP")
	}
	t.Cleanup(func() { _ = exec.Command(kafkaScript(t), "stop", "--dir", k.dir).Run() })
	return k
}

var notYetRE = regexp.MustCompile(`level=WARN msg="[^"]*not available yet; retrying"`)

// TestProducerAndChaosWaitForTheBroker: a producer and a chaos burst
// started while their broker is down wait for it, each with one log line,
// and write everything once it is up.
func TestProducerAndChaosWaitForTheBroker(t *testing.T) {
	k := startOwnBroker(t)
	ts := newTopicSet(t, "late-broker")
	createTopics(t, k.bootstrap, ts, 3)
	k.run(t, "stop")

	prod := startRole(t, "producer", "producer", "--brokers", k.bootstrap, "--raw-topic", ts.Raw, "--rate", "0",
		"--count", "2000", "--start", "now", "--metrics-addr", "")
	burst := startRole(t, "chaos", "chaos", "late", "--brokers", k.bootstrap, "--raw-topic", ts.Raw, "--count", "100")
	prod.waitLog(t, notYetRE, 1, time.Minute)
	burst.waitLog(t, notYetRE, 1, time.Minute)
	k.run(t, "start")

	for _, p := range []*proc{prod, burst} {
		if err := p.wait(t, 3*time.Minute); err != nil {
			t.Fatalf("%s: %v; output:\n%s", p.name, err, p.out.tail(40))
		}
		out := p.out.String()
		if n := len(notYetRE.FindAllString(out, -1)); n > 3 {
			t.Errorf("%s logged %d 'not available' lines for one outage:\n%s", p.name, n, out)
		}
		if !strings.Contains(out, ": recovered") {
			t.Errorf("%s never said it recovered:\n%s", p.name, out)
		}
	}
	if !strings.Contains(prod.out.String(), "produced 2000 messages") || !strings.Contains(burst.out.String(), "wrote 100 late messages") {
		t.Fatalf("summaries:\n%s\n%s", prod.out.tail(3), burst.out.tail(3))
	}
	ctx := testContext(t, time.Minute)
	end, err := endOffsets(ctx, k.bootstrap, ts.Raw, 3)
	if err != nil {
		t.Fatal(err)
	}
	if sum := end[0] + end[1] + end[2]; sum != 2100 {
		t.Fatalf("the raw topic holds %d records, want 2100", sum)
	}
}

// TestTopicsCreateAgainstAnUnreachableBroker: no table, one warning, one
// error naming the broker after --connect-timeout.
func TestTopicsCreateAgainstAnUnreachableBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := startRole(t, "topics create", "topics", "create", "--brokers", addr, "--connect-timeout", "5s")
	err = p.wait(t, time.Minute)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want 1; output:\n%s", err, p.out)
	}
	out := p.out.String()
	if strings.Contains(out, "TOPIC") || strings.Contains(out, "partitions") {
		t.Errorf("printed a table it does not know to be true:\n%s", out)
	}
	if n := len(notYetRE.FindAllString(out, -1)); n != 1 {
		t.Errorf("%d warnings, want 1 (one per change of state):\n%s", n, out)
	}
	if n := strings.Count(out, "streamlab: "); n != 1 || !strings.Contains(out, "Kafka at "+addr+": gave up after") {
		t.Errorf("want one error naming the broker and the timeout:\n%s", out)
	}
}

// TestProducerRefusesATopicThatWouldDeleteItsRecords: the producer stamps
// records with its event clock; three months back on a topic that keeps
// records 7 days (the default of topics create) it refuses, writes
// nothing, and names the command that fixes it. Running that command makes
// the same producer work.
func TestProducerRefusesATopicThatWouldDeleteItsRecords(t *testing.T) {
	b := brokers(t)
	ts := newTopicSet(t, "retention")
	runRole(t, "topics create", 2*time.Minute, append([]string{"topics", "create", "--brokers", b}, ts.flags()...)...)
	start := time.Now().AddDate(0, -3, 0).UTC().Format(time.RFC3339)
	args := []string{"producer", "--brokers", b, "--raw-topic", ts.Raw, "--rate", "0", "--count", "500", "--start", start, "--metrics-addr", ""}
	p := startRole(t, "producer", args...)
	err := p.wait(t, time.Minute)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want 1; output:\n%s", err, p.out)
	}
	out := p.out.String()
	fix := regexp.MustCompile(`fix: give the topics a longer retention: streamlab (topics create .* --retention (\d+)h --update-configs);`).FindStringSubmatch(out)
	if !strings.Contains(out, "deletes records older than 7 days") || fix == nil {
		t.Fatalf("want the reason and the fix:\n%s", out)
	}
	ctx := testContext(t, time.Minute)
	if end, err := endOffsets(ctx, b, ts.Raw, 3); err != nil || end[0]+end[1]+end[2] != 0 {
		t.Fatalf("refused, but the raw topic holds records: %v %v", end, err)
	}

	// The fix, as printed (plus this test's other topic names).
	fixArgs := append(strings.Fields(fix[1]), ts.flags()...)
	runRole(t, "topics create (fix)", 2*time.Minute, fixArgs...)
	cfg := describeTopic(t, ctx, b, ts.Raw)
	hours, _ := strconv.Atoi(fix[2])
	if cfg["retention.ms"] != fmt.Sprint(int64(hours)*3600_000) {
		t.Fatalf("after the fix retention.ms=%s, want %dh", cfg["retention.ms"], hours)
	}
	runRole(t, "producer (after the fix)", 2*time.Minute, args...)
	if end, err := endOffsets(ctx, b, ts.Raw, 3); err != nil || end[0]+end[1]+end[2] != 500 {
		t.Fatalf("after the fix the raw topic holds %v (%v), want 500 records", end, err)
	}
}

// TestTopicsCreateMakesTheDLQHoldTheRawTopicsRecords: on a real broker, a
// DLQ created next to a raw topic that takes 6 MB records gets room for
// them; an existing DLQ that cannot hold them is a problem with the fix,
// and --update-configs applies it.
func TestTopicsCreateMakesTheDLQHoldTheRawTopicsRecords(t *testing.T) {
	b := brokers(t)
	ctx := testContext(t, 2*time.Minute)
	createRaw := func(ts topicSet) {
		resp, err := client(b).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: ts.Raw, NumPartitions: 3, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "6000000"}, {ConfigName: "retention.ms", ConfigValue: "315360000000"}}}}})
		if err == nil {
			err = resp.Errors[ts.Raw]
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprint(6000000 + 64<<10)

	fresh := newTopicSet(t, "fresh")
	createRaw(fresh)
	runRole(t, "topics create", 2*time.Minute, append([]string{"topics", "create", "--brokers", b, "--retention", "87600h"}, fresh.flags()...)...)
	if got := describeTopic(t, ctx, b, fresh.DLQ)["max.message.bytes"]; got != want {
		t.Fatalf("new DLQ max.message.bytes=%s, want %s", got, want)
	}

	old := newTopicSet(t, "old")
	createRaw(old)
	resp, err := client(b).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: old.DLQ, NumPartitions: 3, ReplicationFactor: 1}}})
	if err == nil {
		err = resp.Errors[old.DLQ]
	}
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"topics", "create", "--brokers", b, "--retention", "87600h"}, old.flags()...)
	p := startRole(t, "topics create", args...)
	err = p.wait(t, 2*time.Minute)
	var ee *exec.ExitError
	out := p.out.String()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !regexp.MustCompile(regexp.QuoteMeta(old.DLQ)+`\s+exists\s+3\s+.*PROBLEM max.message.bytes=1048588 \(want at least `+want+`\)`).MatchString(out) ||
		!strings.Contains(out, "fix: run again with --update-configs") {
		t.Fatalf("exit %v; want the DLQ reported as a problem with the fix:\n%s", err, out)
	}
	runRole(t, "topics create --update-configs", 2*time.Minute, append(args, "--update-configs")...)
	if got := describeTopic(t, ctx, b, old.DLQ)["max.message.bytes"]; got != want {
		t.Fatalf("DLQ max.message.bytes=%s after --update-configs, want %s", got, want)
	}
}

func describeTopic(t *testing.T, ctx context.Context, b, topic string) map[string]string {
	t.Helper()
	resp, err := client(b).DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describe %s: %v", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	return out
}
