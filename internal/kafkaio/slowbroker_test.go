package kafkaio_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
)

// lateConn delivers every answer of the broker `delay` after the request
// that asked for it was written: a broker on a machine so loaded that its
// network threads run late.
type lateConn struct {
	net.Conn
	delay time.Duration
	mu    sync.Mutex
	sent  time.Time
}

func (c *lateConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.sent = time.Now()
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *lateConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	wait := time.Until(c.sent.Add(c.delay))
	c.sent = time.Time{}
	c.mu.Unlock()
	if wait > 0 {
		time.Sleep(wait)
	}
	return c.Conn.Read(b)
}

// fetchWithin reports whether a partition reader with the given MaxWait
// gets the partition's first message within d when every broker answer
// comes 400 ms late.
func fetchWithin(t *testing.T, brokers []string, topic string, maxWait, d time.Duration) bool {
	t.Helper()
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	dialer.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &lateConn{Conn: c, delay: 400 * time.Millisecond}, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, Dialer: dialer,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: maxWait})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := r.FetchMessage(ctx)
	return err == nil
}

// TestReaderToleratesASlowBroker: kafka-go gives a fetch's answer MaxWait
// to arrive and asks the broker to answer a quarter of MaxWait earlier
// (below 1 s). With the 250 ms the processor used, an answer 400 ms late
// times out every time: the reader drops the connection, dials again, and
// never delivers a message, in silence. FetchMaxWait leaves the answer a
// second: the same slow broker is read.
func TestReaderToleratesASlowBroker(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := kafkaio.NewWriter(brokers, topics.Raw)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if fetchWithin(t, brokers, topics.Raw, 250*time.Millisecond, 4*time.Second) {
		t.Error("a reader with MaxWait 250ms read from a broker answering 400 ms late: the test's slow broker does not reproduce the stall")
	}
	if !fetchWithin(t, brokers, topics.Raw, kafkaio.FetchMaxWait, 20*time.Second) {
		t.Errorf("a reader with MaxWait %s read nothing in 20 s from a broker answering 400 ms late", kafkaio.FetchMaxWait)
	}
}

// TestReaderLogOncePerKind: the first message of a kind is a warning, its
// repeats within a minute are debug, and another kind, even alternating
// with the first, warns once too.
func TestReaderLogOncePerKind(t *testing.T) {
	var b strings.Builder
	l := kafkaio.ReaderLog(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for range 3 {
		l.Printf("timeout reading partition %d", 0)
		l.Printf("not leader for partition %d", 0)
	}
	got := b.String()
	if strings.Count(got, "level=WARN") != 2 || strings.Count(got, "level=DEBUG") != 4 {
		t.Fatalf("want one warning per kind, the repeats at debug:\n%s", got)
	}
}
