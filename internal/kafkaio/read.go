package kafkaio

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadToEnd calls fn for every message of every partition of topic, from
// the first offset to the end offset as of the call, partition by
// partition. It is how the CLI and the tests take a consistent look at a
// topic without joining a consumer group.
func ReadToEnd(ctx context.Context, brokers []string, topic string, fn func(kafka.Message) error) error {
	counts, err := PartitionCounts(ctx, brokers, topic)
	if err != nil {
		return err
	}
	if counts[topic] == 0 {
		return fmt.Errorf("topic %s does not exist", topic)
	}
	for p := 0; p < counts[topic]; p++ {
		if err := ReadPartitionToEnd(ctx, brokers, topic, p, fn); err != nil {
			return err
		}
	}
	return nil
}

// ReadPartitionToEnd calls fn for each message of one partition up to its
// end offset as of the call.
func ReadPartitionToEnd(ctx context.Context, brokers []string, topic string, partition int, fn func(kafka.Message) error) error {
	return ReadPartitionFrom(ctx, brokers, topic, partition, 0, fn)
}

// ReadPartitionFrom is ReadPartitionToEnd from offset from on (or the first
// offset, if that is later).
func ReadPartitionFrom(ctx context.Context, brokers []string, topic string, partition int, from int64, fn func(kafka.Message) error) error {
	first, last, err := Offsets(ctx, brokers, topic, partition)
	if err != nil {
		return err
	}
	return ReadRange(ctx, brokers, topic, partition, max(first, from), last, fn)
}

// Offsets returns the first and the end (next) offset of a partition.
func Offsets(ctx context.Context, brokers []string, topic string, partition int) (first, last int64, err error) {
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
	if err != nil {
		return 0, 0, fmt.Errorf("connect to %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	first, last, err = conn.ReadOffsets()
	if err != nil {
		return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, partition, err)
	}
	return first, last, nil
}

// FetchMaxWait is the MaxWait of the long-lived partition readers (the
// processor's, the dispatcher's). kafka-go gives a fetch's answer MaxWait
// to arrive (the connection's read deadline) and asks the broker to answer
// earlier by a round-trip allowance: a quarter of MaxWait below 1 s, else
// 1 s. With 250 ms the allowance was 62 ms; a broker on a loaded machine
// answers later, the read times out, the reader drops the connection and
// starts over, and a partition can go minutes without a message
// (TestReaderToleratesASlowBroker). 1.5 s lets the broker hold an idle
// fetch 0.5 s and leaves its answer a second; closing a reader waits for
// at most that one fetch.
const FetchMaxWait = 1500 * time.Millisecond

// ReaderLog is the ErrorLogger of a long-lived partition reader. kafka-go's
// Reader retries on its own (reconnecting, re-reading offsets) and never
// returns those errors, so without it a reader that cannot fetch (a broker
// answering too late, a partition without a leader) stalls its partition in
// silence. Each kind of message (kafka-go's format string) is a warning at
// most once a minute, so a stall shows at once, a long one shows again, and
// two alternating errors do not flood the log; the rest goes to debug.
func ReaderLog(log *slog.Logger) kafka.Logger {
	return &readerLog{log: log, warned: map[string]time.Time{}}
}

// readerLogEvery is how often one kind of reader message is a warning.
const readerLogEvery = time.Minute

type readerLog struct {
	log    *slog.Logger
	mu     sync.Mutex // the reader logs from its own goroutine
	warned map[string]time.Time
}

func (l *readerLog) Printf(format string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	warn := now.Sub(l.warned[format]) >= readerLogEvery
	if warn {
		l.warned[format] = now
	}
	l.mu.Unlock()
	level := slog.LevelDebug
	if warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "kafka reader: "+fmt.Sprintf(format, args...))
}
