//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/oracle"
)

// intentHeader tags each fuzz message with the outcome it was built to get;
// the processor ignores unknown headers.
const intentHeader = "e2e.intent"

const intentCounted = "counted"

// fuzzer builds an interleaving of valid events and hostile byte sequences.
type fuzzer struct {
	rng   *rand.Rand
	start time.Time
	clock time.Time // event time of the next valid event
	seq   int
}

func (f *fuzzer) uuid() string {
	return fmt.Sprintf("%08x-%04x-4%03x-%x%03x-%012x", f.rng.Uint32(), f.rng.IntN(1<<16), f.rng.IntN(1<<12),
		8+f.rng.IntN(4), f.rng.IntN(1<<12), f.rng.Int64N(1<<48))
}

// event returns the fields of a valid event at time t.
func (f *fuzzer) event(t time.Time) map[string]any {
	f.seq++
	types := []string{"page_view", "product_view", "add_to_cart", "checkout_started", "order_placed", "payment_failed", "order_refunded"}
	typ := types[f.rng.IntN(len(types))]
	user := fmt.Sprintf("user-%d", f.rng.IntN(50))
	ev := map[string]any{
		"schema_version": 1, "event_id": f.uuid(), "event_type": typ,
		"event_time": t.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"user_id":    user, "session_id": fmt.Sprintf("%s-s%d", user, f.rng.IntN(3)),
		"device": "fuzz",
	}
	switch typ {
	case "product_view", "add_to_cart":
		ev["product_id"] = fmt.Sprintf("p-%d", f.rng.IntN(10))
	case "order_placed", "payment_failed", "order_refunded":
		ev["order_id"] = fmt.Sprintf("o-%d", f.seq)
		ev["amount_minor"] = 1 + f.rng.Int64N(100000)
		ev["currency"] = []string{"EUR", "USD", "GBP"}[f.rng.IntN(3)]
	}
	return ev
}

func encode(ev map[string]any) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

// valid returns the next valid event; the event clock advances one second.
func (f *fuzzer) valid() kafka.Message {
	ev := f.event(f.clock)
	m := f.msg(encode(ev), intentCounted)
	m.Key = []byte(ev["user_id"].(string))
	if f.rng.IntN(10) == 0 {
		m.Key = nil // nil keys are fine for valid events too
	}
	f.clock = f.clock.Add(time.Second)
	return m
}

// msg builds a message whose Kafka timestamp is the event clock.
func (f *fuzzer) msg(value []byte, intent string) kafka.Message {
	var key []byte
	switch f.rng.IntN(3) {
	case 0: // nil key
	case 1:
		key = []byte(fmt.Sprintf("user-%d", f.rng.IntN(50)))
	default:
		key = make([]byte, f.rng.IntN(40))
		for i := range key {
			key[i] = byte(f.rng.IntN(256))
		}
	}
	return kafka.Message{Key: key, Value: value, Time: f.clock,
		Headers: []kafka.Header{{Key: intentHeader, Value: []byte(intent)}}}
}

// bad returns one hostile message and the reason it must be dead-lettered
// with.
func (f *fuzzer) bad() kafka.Message {
	good := encode(f.event(f.clock))
	switch k := f.rng.IntN(12); k {
	case 0: // random bytes, not valid UTF-8
		b := make([]byte, 1+f.rng.IntN(300))
		for i := range b {
			b[i] = byte(f.rng.IntN(256))
		}
		b[0] = 0xff
		return f.msg(b, string(event.InvalidJSON))
	case 1: // random bytes that are valid UTF-8 but not JSON
		b := make([]byte, 1+f.rng.IntN(300))
		for i := range b {
			b[i] = byte(f.rng.IntN(0x7f))
		}
		b[0] = 0
		return f.msg(b, string(event.InvalidJSON))
	case 2: // truncated
		return f.msg(good[:1+f.rng.IntN(len(good)-1)], string(event.InvalidJSON))
	case 3: // mangled structure
		s := string(good)
		switch f.rng.IntN(4) {
		case 0:
			s = strings.Replace(s, ":", "", 1)
		case 1:
			s = s[:len(s)-1] + "]"
		case 2:
			s = s[:len(s)-1] + ",}"
		default:
			s = strings.Replace(s, `"`, `'`, 1)
		}
		return f.msg([]byte(s), string(event.InvalidJSON))
	case 4: // invalid UTF-8 inside a string value
		b := bytes.Replace(good, []byte(`"device":"fuzz"`), []byte("\"device\":\"fu\xff\xfez\""), 1)
		return f.msg(b, string(event.InvalidJSON))
	case 5: // JSON, but not an object
		vs := []string{`[]`, `[1,2,3]`, `"event"`, `42`, `null`, `true`, ` [{"schema_version":1}] `}
		return f.msg([]byte(vs[f.rng.IntN(len(vs))]), string(event.InvalidJSON))
	case 6: // empty and null values
		if f.rng.IntN(2) == 0 {
			return f.msg([]byte{}, string(event.InvalidJSON))
		}
		return f.msg(nil, string(event.InvalidJSON))
	case 7: // a newer schema
		ev := f.event(f.clock)
		ev["schema_version"] = 2 + f.rng.IntN(5)
		return f.msg(encode(ev), string(event.UnsupportedSchema))
	case 8: // a field the contract forbids
		ev := f.event(f.clock)
		switch f.rng.IntN(8) {
		case 0:
			delete(ev, "event_id")
		case 1:
			ev["event_id"] = "not-a-uuid"
		case 2:
			ev["event_type"] = "teleport"
		case 3:
			ev["schema_version"] = "1"
		case 4:
			ev["user_id"] = ""
		case 5:
			ev["event_time"] = "yesterday"
		case 6:
			ev["event_type"], ev["order_id"], ev["amount_minor"], ev["currency"] = "order_placed", "o-x", 0, "EUR"
		default:
			ev["event_type"], ev["order_id"], ev["amount_minor"], ev["currency"] = "order_placed", "o-x", 12.5, "EUR"
		}
		return f.msg(encode(ev), string(event.SchemaViolation))
	case 9: // far ahead of the record timestamp
		return f.msg(encode(f.event(f.clock.Add(11*time.Minute))), string(event.FutureEvent))
	case 10: // far behind the watermark, once there is one to be behind
		if f.clock.Sub(f.start) > 20*time.Minute {
			return f.msg(encode(f.event(f.clock.Add(-15*time.Minute))), string(event.LateEvent))
		}
		return f.msg([]byte("{"), string(event.InvalidJSON))
	default: // valid-looking but over 64 KiB
		return f.huge()
	}
}

// huge returns a valid-looking event between 64 KiB and 1 MiB.
func (f *fuzzer) huge() kafka.Message {
	ev := f.event(f.clock)
	// 1048300 is near the largest value the broker's default limit (1 MiB
	// + 12 bytes per batch) lets onto the raw topic with a short key.
	sizes := []int{65537, 65537 + f.rng.IntN(200000), 500000 + f.rng.IntN(400000), 1040000, 1048300}
	size := sizes[f.rng.IntN(len(sizes))]
	base := len(encode(ev)) + len(`,"page":""`)
	ev["page"] = strings.Repeat("x", size-base)
	m := f.msg(encode(ev), string(event.Oversized))
	if len(m.Value) != size {
		panic(fmt.Sprintf("huge value is %d bytes, want %d", len(m.Value), size))
	}
	m.Key = []byte("huge-user") // one key: huge letters pile up in one DLQ partition
	return m
}

// writeRaw writes msgs in order. Values near 1 MiB go alone, because the
// broker's default max.message.bytes (1 MiB + 12) bounds a whole batch.
func writeRaw(ctx context.Context, b, topic string, msgs []kafka.Message) error {
	// A transport of its own: the shared default one caches metadata from
	// earlier tests for seconds and would not know the new topic yet.
	tr := &kafka.Transport{MetadataTTL: time.Second}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(strings.Split(b, ",")...), Topic: topic, Balancer: &kafka.Hash{}, Transport: tr,
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 500, MaxAttempts: 5}
	defer w.Close()
	var pending []kafka.Message
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := w.WriteMessages(ctx, pending...)
		pending = pending[:0]
		return err
	}
	for _, m := range msgs {
		if len(m.Value) > 64<<10 {
			if err := flush(); err != nil {
				return err
			}
			if err := w.WriteMessages(ctx, m); err != nil {
				return fmt.Errorf("write a %d-byte value: %w", len(m.Value), err)
			}
			continue
		}
		if pending = append(pending, m); len(pending) == 200 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// TestS5Fuzz is contract S5 and G5: random bytes, truncated and mangled JSON,
// invalid UTF-8, non-objects, empty and null values, nil and binary keys and
// values up to 1 MiB, interleaved with valid events, written straight to the
// raw topic. The processor must stay up and healthy, count every valid event
// and dead-letter every bad message with the reason it was built for.
func TestS5Fuzz(t *testing.T) {
	const partitions, validCount, badCount = 3, 2400, 900
	b := brokers(t)
	ctx := testContext(t, 8*time.Minute)
	rng := rand.New(rand.NewPCG(testSeed(t), 5))
	ts := newTopicSet(t, "s5")
	createTopics(t, b, ts, partitions)

	start, _ := time.Parse(time.RFC3339, logStart)
	f := &fuzzer{rng: rng, start: start, clock: start}
	var msgs []kafka.Message
	for v, bad := 0, 0; v < validCount || bad < badCount; {
		if bad < badCount && (v == validCount || rng.IntN(validCount+badCount) < badCount) {
			msgs = append(msgs, f.bad())
			bad++
			continue
		}
		msgs = append(msgs, f.valid())
		v++
	}
	// A run of huge values in a row: their dead letters land in one DLQ
	// partition in one processing batch.
	for range 4 {
		msgs = append(msgs, f.huge())
	}
	msgs = append(msgs, f.valid())
	largest, over := 0, 0
	for _, m := range msgs {
		largest = max(largest, len(m.Value))
		if len(m.Value) > 64<<10 {
			over++
		}
	}
	t.Logf("writing %d messages: %d valid, %d over 64 KiB, the largest %d bytes", len(msgs), validCount+1, over, largest)
	if err := writeRaw(ctx, b, ts.Raw, msgs); err != nil {
		t.Fatalf("write fuzz messages: %v", err)
	}

	// The processor starts on the complete log, so it fetches big batches
	// and meets the worst case (several huge dead letters in one output
	// flush) whatever the timing.
	group := uniqueName(t, "group")
	p := startRole(t, "processor", append(processorArgs(b, ts, group), "--metrics-addr", "127.0.0.1:0")...)
	addr := p.metricsAddr(t)
	p.waitLog(t, restoredRE, partitions, time.Minute)

	waitConsumed(t, ctx, b, group, ts.Raw, partitions, 2*time.Minute, func() error {
		if err := p.alive(); err != nil {
			return err
		}
		return healthy(ctx, addr)
	})
	if err := healthy(ctx, addr); err != nil {
		t.Fatalf("after the fuzz input: %v", err)
	}
	outcomes, err := outcomeCounts(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	p.stop(t, time.Minute)

	raw := readTopic(t, ctx, b, ts.Raw, partitions)
	if n := total(raw); n != len(msgs) {
		t.Fatalf("raw topic holds %d messages, wrote %d", n, len(msgs))
	}
	e := expect(ts.Raw, raw, oracle.DefaultConfig())
	t.Log(e.summary())
	_, dlq := e.verifyRun(t, ctx, b, ts, partitions)

	// Independently of the oracle: every message got the outcome it was
	// built for.
	pr := newProblems(t, "fuzz intent")
	want := map[string]int{}
	for part, ms := range raw {
		for _, m := range ms {
			intent := ""
			for _, h := range m.Headers {
				if h.Key == intentHeader {
					intent = string(h.Value)
				}
			}
			want[intent]++
			l, dead := dlq.letters[srcKey{ts.Raw, int32(part), m.Offset}]
			switch {
			case intent == intentCounted && dead:
				pr.add("%d@%d: valid event dead-lettered as %s (%s): %.200q", part, m.Offset, l.Reason, l.Error, m.Value)
			case intent != intentCounted && !dead:
				pr.add("%d@%d: built for %s but not dead-lettered: %.200q", part, m.Offset, intent, m.Value)
			case dead && string(l.Reason) != intent:
				pr.add("%d@%d: built for %s, dead-lettered as %s (%s): %.200q", part, m.Offset, intent, l.Reason, l.Error, m.Value)
			}
		}
	}
	pr.done()
	if want[intentCounted] != e.counted {
		t.Errorf("valid events: %d written, oracle counted %d", want[intentCounted], e.counted)
	}
	// The processor's own metrics tell the same story.
	for outcome, n := range want {
		if outcomes[outcome] != float64(n) {
			t.Errorf("streamlab_processor_messages_total{outcome=%q} = %v, want %d", outcome, outcomes[outcome], n)
		}
	}
	t.Logf("outcomes by intent: %v; processor metrics: %v", want, outcomes)
}

// healthy requires /healthz to answer 200.
func healthy(ctx context.Context, addr string) error {
	body, status, err := httpGet(ctx, "http://"+addr+"/healthz")
	if err != nil {
		return fmt.Errorf("/healthz: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("/healthz: %d %s", status, body)
	}
	return nil
}

func httpGet(ctx context.Context, url string) (string, int, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// outcomeCounts reads streamlab_processor_messages_total by outcome from
// the processor's Prometheus text endpoint.
func outcomeCounts(ctx context.Context, addr string) (map[string]float64, error) {
	body, status, err := httpGet(ctx, "http://"+addr+"/metrics")
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d: %v", status, err)
	}
	const prefix = `streamlab_processor_messages_total{outcome="`
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			return nil, fmt.Errorf("/metrics: cannot parse %q", line)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}
