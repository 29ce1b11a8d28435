//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/gen"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/oracle"
	"github.com/streamlab/streamlab/internal/topic"
)

// kcatBin is kcat (Debian package kafkacat; .ci/run installs it): a
// librdkafka client, the usual third-party writer.
func kcatBin(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("kcat is not installed: apt-get install -y kafkacat")
	return ""
}

// kcatRun runs kcat with input on stdin and returns its output.
func kcatRun(t *testing.T, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kcatBin(t), args...)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// dlqCmd runs `streamlab dlq args...` on ts, requires exit 0 and returns
// its output.
func dlqCmd(t *testing.T, b string, ts topicSet, args ...string) string {
	t.Helper()
	all := append(append([]string{"dlq"}, args...), append([]string{"--brokers", b}, ts.flags()...)...)
	p := runRole(t, "dlq "+strings.Join(args, " "), 5*time.Minute, all...)
	return p.out.String()
}

// number reads the integer re captures from a dlq command's output.
func number(t *testing.T, out, re string) int {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the output:\n%s", re, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// comparable strips from an aggregate how its numbers were reached
// (revision, late_accepted, duplicates): replays reach them differently
// by design, what they are must not differ.
func comparable(t *testing.T, b []byte) string {
	t.Helper()
	r, err := aggregate.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	r.Revision, r.LateAccepted, r.Duplicates = 0, 0, 0
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// replayOrigins returns, for every replayed record on the raw topic, its
// partition and the source partition its dead letter names.
func replayOrigins(raw map[int][]kafka.Message) (replays, foreign int) {
	for p, msgs := range raw {
		for _, m := range msgs {
			var of, src string
			for _, h := range m.Headers {
				switch h.Key {
				case deadletter.HeaderReplayOf:
					of = string(h.Value)
				case deadletter.HeaderSourcePartition:
					src = string(h.Value)
				}
			}
			if of == "" {
				continue
			}
			replays++
			if src != strconv.Itoa(p) {
				foreign++
			}
		}
	}
	return replays, foreign
}

// TestThirdPartyWritersReplay is issue 12 §2 on a real broker: a raw log
// written by three other clients (kcat with librdkafka's murmur2_random,
// a plain kafka-go writer with murmur2, and one with CRC32, which puts
// users elsewhere) is processed, its late dead letters are replayed, and
// every replayed event lands in its source partition: the final numbers
// equal the oracle's over the original log with unlimited lateness.
// Replaying the same range again changes nothing. Along the way: kcat's
// and kafka-go's murmur2 place every key where streamlab's writers do, and
// the dry run and --wait report what happens.
func TestThirdPartyWritersReplay(t *testing.T) {
	const partitions, count = 3, 6000
	b := brokers(t)
	brokerList := strings.Split(b, ",")
	ctx := testContext(t, 15*time.Minute)
	ts := newTopicSet(t, "thirdparty")
	createTopics(t, b, ts, partitions)

	// A generated log whose event time ends now: the writers stamp records
	// with the wall clock, so no event is accidentally in the future.
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.EventsPerSecond, cfg.TooLate = 12, 20, 0.04
	cfg.Start = time.Now().Add(-time.Duration(count/cfg.EventsPerSecond+60) * time.Second).UTC().Truncate(time.Millisecond)
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	var viaGo, viaCRC []kafka.Message
	for i := range count {
		m := g.Next()
		switch {
		case i < count/3 && !bytes.ContainsAny(m.Value, "\x1f\n") && !bytes.ContainsRune(m.Key, 0x1f):
			lines.Write(m.Key)
			lines.WriteByte(0x1f)
			lines.Write(m.Value)
			lines.WriteByte('\n')
		case i < 2*count/3:
			viaGo = append(viaGo, kafka.Message{Key: m.Key, Value: m.Value, Headers: []kafka.Header{{Key: "writer", Value: []byte("kafka-go-murmur2")}}})
		default:
			viaCRC = append(viaCRC, kafka.Message{Key: m.Key, Value: m.Value, Headers: []kafka.Header{{Key: "writer", Value: []byte("kafka-go-crc32")}}})
		}
	}
	kcatRun(t, lines.String(), "-P", "-b", b, "-t", ts.Raw, "-K", "\x1f", "-X", "partitioner=murmur2_random", "-H", "writer=kcat")
	for balancer, msgs := range map[kafka.Balancer][]kafka.Message{&kafka.Murmur2Balancer{}: viaGo, &kafka.CRC32Balancer{}: viaCRC} {
		w := &kafka.Writer{Addr: kafka.TCP(brokerList...), Topic: ts.Raw, Balancer: balancer, RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond}
		writeAll(t, ctx, w, msgs...)
		w.Close()
	}
	raw := readTopic(t, ctx, b, ts.Raw, partitions)
	if n := total(raw); n != count {
		t.Fatalf("raw topic holds %d records, %d written", n, count)
	}
	// Where each writer put each user.
	placed := map[string]int{}
	elsewhere := map[string]int{}
	for p, msgs := range raw {
		for _, m := range msgs {
			writer := ""
			for _, h := range m.Headers {
				if h.Key == "writer" {
					writer = string(h.Value)
				}
			}
			placed[writer]++
			if kafkaio.KeyBalancer().Balance(m, 0, 1, 2) != p {
				elsewhere[writer]++
			}
		}
	}
	t.Logf("records by writer %v; in another partition than streamlab's writers would choose: %v", placed, elsewhere)
	if placed["kcat"] < count/4 || elsewhere["kcat"] != 0 || elsewhere["kafka-go-murmur2"] != 0 {
		t.Fatalf("murmur2 writers disagree with streamlab's: %v of %v", elsewhere, placed)
	}
	if elsewhere["kafka-go-crc32"] == 0 {
		t.Fatal("the CRC32 writer put every user where murmur2 does: the test proves nothing about foreign partitions")
	}

	group := uniqueName(t, "group")
	procArgs := processorArgs(b, ts, group, "--replay-retention", "24h")
	p := startRole(t, "processor", procArgs...)
	p.waitLog(t, restoredRE, partitions, time.Minute)
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, p.alive)
	p.stop(t, time.Minute)

	// The ground truth: the original log with unlimited lateness.
	ocfg := oracle.DefaultConfig()
	ocfg.AllowedLatenessMs = 1 << 50
	truth := map[string]string{}
	late := 0
	for part, msgs := range raw {
		in := make([]oracle.Message, len(msgs))
		for i, m := range msgs {
			in[i] = oracle.Message{Offset: m.Offset, Value: m.Value, TimestampMs: m.Time.UnixMilli()}
		}
		for ws, rec := range oracle.Run(ocfg, int32(part), in).Final {
			truth[fmt.Sprintf("%s/%d", ws, part)] = comparable(t, rec)
		}
		for _, d := range oracle.Run(oracle.DefaultConfig(), int32(part), in).DeadLetters {
			if d.Reason == "late_event" {
				late++
			}
		}
	}
	if late == 0 {
		t.Fatal("the log has no late_event dead letters: nothing to replay")
	}
	differ := func() []string {
		v := readAggregates(t, ctx, b, ts.Agg, partitions)
		var out []string
		for k, want := range truth {
			got := v.latest[winKey{strings.Split(k, "/")[0], int32(k[len(k)-1] - '0')}]
			if got == nil || comparable(t, got) != want {
				out = append(out, k)
			}
		}
		if len(v.latest) != len(truth) {
			out = append(out, fmt.Sprintf("%d windows, the oracle has %d", len(v.latest), len(truth)))
		}
		return out
	}
	if d := differ(); len(d) == 0 {
		t.Fatal("no window misses late events before the replay: the test data has no effect")
	} else {
		t.Logf("before the replay %d windows differ from the oracle with unlimited lateness", len(d))
	}

	dry := dlqCmd(t, b, ts, "replay", "--reason", "late_event", "--group", group, "--dry-run")
	t.Logf("dry run:\n%s", dry)
	if number(t, dry, `would write (\d+)`) != late || number(t, dry, `(\d+) of \d+ with an event time are past it`) != 0 ||
		!strings.Contains(dry, "WINDOW START") || strings.Contains(dry, "unknown:") {
		t.Fatalf("dry run: want %d letters, none past the horizon, every partition's checkpoint known", late)
	}

	p = startRole(t, "processor after the replay", procArgs...)
	first := dlqCmd(t, b, ts, "replay", "-q", "--reason", "late_event", "--group", group, "--wait", "3m")
	t.Logf("replay:\n%s", first)
	if number(t, first, `written (\d+)`) != late || number(t, first, `healed (\d+)`) != late || number(t, first, `back in the DLQ (\d+)`) != 0 {
		t.Fatalf("replay of %d late dead letters", late)
	}
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, p.alive)
	p.stop(t, time.Minute)
	replays, foreign := replayOrigins(readTopic(t, ctx, b, ts.Raw, partitions))
	if replays != late || foreign != 0 {
		t.Fatalf("%d replayed records on the raw topic (want %d), %d of them outside their source partition", replays, late, foreign)
	}
	if d := differ(); len(d) > 0 {
		t.Fatalf("%d windows differ from the oracle with unlimited lateness after the replay, e.g. %v", len(d), d[:min(5, len(d))])
	}
	healed := readAggregates(t, ctx, b, ts.Agg, partitions).latest

	// The same range again: the ledger skips it; forced, the processor
	// absorbs the replayed duplicates and no window changes at all.
	again := dlqCmd(t, b, ts, "replay", "-q", "--reason", "late_event", "--group", group)
	if number(t, again, `written (\d+)`) != 0 || number(t, again, `(\d+) already replayed`) != late {
		t.Fatalf("second replay:\n%s", again)
	}
	p = startRole(t, "processor after the forced replay", procArgs...)
	forced := dlqCmd(t, b, ts, "replay", "-q", "--reason", "late_event", "--group", group, "--force", "--wait", "3m")
	if number(t, forced, `written (\d+)`) != late || number(t, forced, `healed (\d+)`) != late {
		t.Fatalf("forced replay:\n%s", forced)
	}
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 3*time.Minute, p.alive)
	p.stop(t, time.Minute)
	after := readAggregates(t, ctx, b, ts.Agg, partitions).latest
	if len(after) != len(healed) {
		t.Fatalf("%d windows after the forced replay, %d before", len(after), len(healed))
	}
	for k, rec := range healed {
		if !bytes.Equal(after[k], rec) {
			t.Fatalf("window %v changed on a second replay:\n%s\n%s", k, rec, after[k])
		}
	}
}

// TestJavaClientPartitionsLikeOurWriters: the Java client (the console
// producer of the broker's own distribution) puts every key where
// streamlab's writers do, for murmur2 hashes of both signs.
func TestJavaClientPartitionsLikeOurWriters(t *testing.T) {
	b := brokers(t)
	ctx := testContext(t, 3*time.Minute)
	name := uniqueName(t, "java")
	if _, err := kafkaio.CreateTopics(ctx, strings.Split(b, ","), []topic.Spec{{Name: name, Partitions: 3}}); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	const keys = 300
	for i := range keys {
		fmt.Fprintf(&in, "user-%06d\tv\n", i*37)
	}
	in.WriteString("21\tv\nfoobar\tv\n")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "scripts", "kafka", "kafka.sh"), "run", "org.apache.kafka.tools.ConsoleProducer",
		"--bootstrap-server", b, "--topic", name, "--property", "parse.key=true", "--property", "key.separator=\t")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("console producer: %v\n%s", err, out)
	}
	got := readTopic(t, ctx, b, name, 3)
	if n := total(got); n != keys+2 {
		t.Fatalf("%d records, %d written", n, keys+2)
	}
	for p, msgs := range got {
		for _, m := range msgs {
			if want := kafkaio.KeyBalancer().Balance(m, 0, 1, 2); want != p {
				t.Errorf("key %q: the Java client chose partition %d, streamlab's writers %d", m.Key, p, want)
			}
		}
	}
}

// kcatShapes reads a topic with kcat (librdkafka, not kafka-go) and counts
// its records by "keylength valuelength", -1 standing for a null.
func kcatShapes(t *testing.T, b, topic string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(kcatRun(t, "", "-C", "-b", b, "-t", topic, "-e", "-q", "-f", "%K %S\n")), "\n") {
		out[line]++
	}
	return out
}

// TestEmptyAndNullRoundTrip is issue 12 §3 on a real broker: null and
// empty keys and values, written by kcat and by kafka-go, reach the DLQ
// and come back from a replay byte for byte, into their source partition,
// with the record's own headers (dlq.* ones dropped); a truncated dead
// letter is listed as such and refused by replay with the reason.
func TestEmptyAndNullRoundTrip(t *testing.T) {
	const partitions = 3
	b := brokers(t)
	brokerList := strings.Split(b, ",")
	ctx := testContext(t, 8*time.Minute)
	ts := newTopicSet(t, "empty")
	createTopics(t, b, ts, partitions)

	// kcat, partition 0: empty key + empty value, null key + null value (-Z),
	// key + empty value, key + null value.
	kcatRun(t, "\x1f\n", "-P", "-b", b, "-t", ts.Raw, "-p", "0", "-K", "\x1f")
	kcatRun(t, "\x1f\n", "-P", "-b", b, "-t", ts.Raw, "-p", "0", "-K", "\x1f", "-Z")
	kcatRun(t, "k1\x1f\n", "-P", "-b", b, "-t", ts.Raw, "-p", "0", "-K", "\x1f")
	kcatRun(t, "k2\x1f\n", "-P", "-b", b, "-t", ts.Raw, "-p", "0", "-K", "\x1f", "-Z")
	// kafka-go, partitions 1 and 2, with headers: own ones of every kind and
	// spoofed dlq.* ones that no dead letter may keep.
	hs := []kafka.Header{{Key: "trace", Value: []byte("t-1")}, {Key: "empty", Value: []byte{}}, {Key: "null"},
		{Key: deadletter.HeaderReason, Value: []byte("counted")}, {Key: deadletter.HeaderSourceOffset, Value: []byte("999")}}
	w := kafkaio.NewWriter(brokerList, ts.Raw)
	w.Balancer = kafkaio.MessagePartition
	writeAll(t, ctx, w,
		kafka.Message{Partition: 1, Key: nil, Value: []byte{}, Headers: hs},
		kafka.Message{Partition: 1, Key: []byte{}, Value: nil, Headers: hs},
		kafka.Message{Partition: 2, Key: []byte("k3"), Value: []byte("not json"), Headers: hs},
	)
	w.Close()
	rawShapes := kcatShapes(t, b, ts.Raw)
	t.Logf("raw records by key and value length: %v", rawShapes)

	group := uniqueName(t, "group")
	p := startRole(t, "processor", processorArgs(b, ts, group)...)
	p.waitLog(t, restoredRE, partitions, time.Minute)
	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 2*time.Minute, p.alive)

	// Every record is a dead letter whose key and value have the raw
	// record's lengths, null as -1 (read by kcat, not kafka-go).
	if dlqShapes := kcatShapes(t, b, ts.DLQ); fmt.Sprint(rawShapes) != fmt.Sprint(dlqShapes) {
		t.Fatalf("key/value lengths on the raw topic %v, on the DLQ %v", rawShapes, dlqShapes)
	}
	entries := readDLQ(t, ctx, b, ts.DLQ, partitions)
	exact, err := readExact(ctx, brokerList, ts.DLQ, partitions)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range exact {
		l, err := deadletter.FromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if l.Partition == 0 {
			continue
		}
		if len(l.RawHeaders) != 3 || string(l.RawHeaders[0].Value) != "t-1" || l.RawHeaders[1].Value == nil || len(l.RawHeaders[1].Value) != 0 || l.RawHeaders[2].Value != nil {
			t.Errorf("%d@%d: own headers %q, want trace=t-1, empty=\"\", null=null", l.Partition, l.Offset, l.RawHeaders)
		}
		if l.Offset == 999 || l.Reason == "counted" {
			t.Errorf("a spoofed dlq.* header reached the dead letter: %+v", l)
		}
	}
	if len(entries.letters) != 7 {
		t.Fatalf("%d dead letters, want 7", len(entries.letters))
	}

	// A dead letter cut to fit the DLQ topic: listed as such, never replayed.
	big := &deadletter.Letter{Reason: "oversized", Error: "too big", Topic: ts.Raw, Partition: 2, Offset: 12345,
		FailedAt: time.Now(), Key: []byte("k4"), Value: bytes.Repeat([]byte("x"), 5000)}
	if cut, err := big.Truncate(2000); !cut || err != nil {
		t.Fatal(cut, err)
	}
	dw := kafkaio.NewDLQWriter(brokerList, ts.DLQ)
	if err := dw.WriteMessages(ctx, big.Message()); err != nil {
		t.Fatal(err)
	}
	dw.Close()
	ls := dlqCmd(t, b, ts, "ls")
	if !strings.Contains(ls, "[cut from 5000 B]") || strings.Count(ls, "(null)") != 3 || strings.Count(ls, "(empty)") != 3 {
		t.Fatalf("ls:\n%s", ls)
	}

	rep := dlqCmd(t, b, ts, "replay", "-q", "--group", group, "--max-replays", "5", "--wait", "2m")
	t.Logf("replay:\n%s", rep)
	if number(t, rep, `written (\d+)`) != 7 || number(t, rep, `(\d+) truncated`) != 1 || number(t, rep, `back in the DLQ (\d+)`) != 7 ||
		!strings.Contains(rep, "not replayed: "+ts.Raw+"/2@12345: value cut from 5000 to") {
		t.Fatal("replay report")
	}
	p.stop(t, time.Minute)

	// The replayed records, read by kcat: each in its source partition with
	// its original key and value lengths, null as null.
	after := kcatShapes(t, b, ts.Raw)
	for k, n := range rawShapes {
		if after[k] != 2*n {
			t.Errorf("key/value lengths %q: %d on the raw topic after the replay, want %d (original + replay)", k, after[k], 2*n)
		}
	}
	rawAfter, err := readExact(ctx, brokerList, ts.Raw, partitions)
	if err != nil {
		t.Fatal(err)
	}
	replays := 0
	for _, m := range rawAfter {
		if deadletter.ReplayCount(m.Headers) == 0 {
			continue
		}
		replays++
		src := ""
		own := 0
		for _, h := range m.Headers {
			if h.Key == deadletter.HeaderSourcePartition {
				src = string(h.Value)
			}
			if !deadletter.IsContext(h.Key) {
				own++
			}
		}
		if src != strconv.Itoa(m.Partition) {
			t.Errorf("replay of %s landed in partition %d", src, m.Partition)
		}
		if m.Partition != 0 && own != 3 {
			t.Errorf("replay %d@%d carries %d own headers, want 3: %v", m.Partition, m.Offset, own, m.Headers)
		}
	}
	if replays != 7 {
		t.Fatalf("%d replayed records, want 7", replays)
	}
}

// writeAll writes msgs, waiting out a writer that does not see a new topic
// yet: kafka-go returns that before it writes anything, so a retry writes
// nothing twice.
func writeAll(t *testing.T, ctx context.Context, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := w.WriteMessages(ctx, msgs...)
		var partial kafka.WriteErrors
		if err == nil {
			return
		}
		if errors.As(err, &partial) || !kafkaio.Transient(err) || time.Now().After(deadline) {
			t.Fatalf("write %d records to %s: %v", len(msgs), w.Topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readExact reads a topic with null and empty told apart.
func readExact(ctx context.Context, brokers []string, topic string, partitions int) ([]kafka.Message, error) {
	var out []kafka.Message
	for p := range partitions {
		if err := kafkaio.ReadPartitionToEnd(ctx, brokers, topic, p, func(m kafka.Message) error {
			out = append(out, m)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, kafkaio.RestoreEmpty(ctx, brokers, out)
}

// TestDLQRightAfterTopicsCreate is issue 12 §4 for the dlq commands: run
// right after `topics create`, while the new partitions may still answer
// Not Leader For Partition, they wait and work; a missing DLQ topic stops
// them at once with a message naming the fix.
func TestDLQRightAfterTopicsCreate(t *testing.T) {
	b := brokers(t)
	retried := 0
	for i := range 5 {
		ts := newTopicSet(t, fmt.Sprintf("fresh%d", i))
		args := append([]string{"topics", "create", "--brokers", b, "--partitions", "3"}, ts.flags()...)
		runRole(t, "topics create", 2*time.Minute, args...)
		for _, cmd := range [][]string{{"stats"}, {"ls"}, {"replay", "--dry-run"}} {
			out := dlqCmd(t, b, ts, cmd...)
			if strings.Contains(out, "retrying") {
				retried++
			}
		}
	}
	t.Logf("%d of 15 commands waited for a partition before they worked", retried)

	ts := newTopicSet(t, "missing")
	start := time.Now()
	p := startRole(t, "dlq stats", append([]string{"dlq", "stats", "--brokers", b}, ts.flags()...)...)
	err := p.wait(t, 30*time.Second)
	if err == nil || !strings.Contains(p.out.String(), "does not exist: create it with 'streamlab topics create'") {
		t.Fatalf("missing DLQ topic: %v\n%s", err, p.out.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a missing topic took %s to report", d)
	}
}
