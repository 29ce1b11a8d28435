package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// missingTopicGrace is how long a topic the brokers do not know yet is
// waited for: right after `streamlab topics create` metadata may lag a
// moment; after that a missing topic is a mistake to fix, not to wait out.
const missingTopicGrace = 5 * time.Second

// tailRecords is how many of the newest records of each aggregate
// partition are read even when they are older than the lookback: the stall
// is measured from them when the pipeline has written nothing since.
const tailRecords = 100

// errTopicPending marks a missing topic inside missingTopicGrace.
var errTopicPending = errors.New("not known to the brokers yet")

// kafkaIO holds what the dispatcher needs to talk to the brokers.
type kafkaIO struct {
	brokers []string
	client  *kafka.Client
	dialer  *kafka.Dialer
	policy  retry.Policy
	log     *slog.Logger
}

func newKafkaIO(cfg Config, log *slog.Logger) *kafkaIO {
	return &kafkaIO{
		brokers: cfg.Brokers,
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second,
			Transport: &kafka.Transport{ClientID: cfg.ClientID, DialTimeout: 5 * time.Second}},
		dialer: &kafka.Dialer{ClientID: cfg.ClientID, Timeout: 10 * time.Second},
		policy: cfg.Retry,
		log:    log,
	}
}

func transient(err error) bool { return errors.Is(err, errTopicPending) || kafkaio.Transient(err) }

// do runs one start-up step under the heal-or-stop policy.
func do[T any](ctx context.Context, k *kafkaIO, what string, op func(context.Context) (T, error)) (T, error) {
	return retry.Do(ctx, k.policy, k.log, what, transient, op)
}

// partitions finds every topic and its partitions. It never creates topics
// (that is `streamlab topics create`, with the right partition counts and
// settings); one missing after the grace is a permanent error naming the fix.
func (k *kafkaIO) partitions(ctx context.Context, topics ...string) (map[string][]int, error) {
	start := time.Now()
	return do(ctx, k, "find topics "+strings.Join(topics, ", ")+" on "+strings.Join(k.brokers, ","),
		func(ctx context.Context) (map[string][]int, error) {
			parts, missing, err := kafkaio.TopicPartitions(ctx, k.client, topics...)
			if err != nil {
				return nil, err
			}
			if len(missing) == 0 {
				return parts, nil
			}
			if time.Since(start) < missingTopicGrace {
				return nil, fmt.Errorf("topic %s: %w", strings.Join(missing, ", "), errTopicPending)
			}
			return nil, retry.Permanent(fmt.Errorf("topic %s does not exist: create the topics with `streamlab topics create`",
				strings.Join(missing, ", ")))
		})
}

func (k *kafkaIO) spans(ctx context.Context, topic string, partitions []int, at time.Time) ([]kafkaio.Span, error) {
	return do(ctx, k, "read the offsets of "+topic, func(ctx context.Context) ([]kafkaio.Span, error) {
		return kafkaio.ListSpans(ctx, k.client, topic, partitions, at)
	})
}

// readAlerts reads the alerts topic from the beginning to the end it had
// when called: the incident history a restart rebuilds from.
func (k *kafkaIO) readAlerts(ctx context.Context, topic string, partitions []int) ([]*incident.Alert, error) {
	spans, err := k.spans(ctx, topic, partitions, time.Time{})
	if err != nil {
		return nil, err
	}
	return do(ctx, k, "read "+topic, func(ctx context.Context) ([]*incident.Alert, error) {
		var out []*incident.Alert
		for _, s := range spans {
			err := kafkaio.ReadRange(ctx, k.brokers, topic, s.Partition, s.First, s.End, func(m kafka.Message) error {
				if a, err := incident.Unmarshal(m.Value); err != nil {
					k.log.Warn("skipping undecodable alert", "partition", m.Partition, "offset", m.Offset, "error", err)
				} else {
					out = append(out, a)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	})
}

// delivery is a message from a watched partition, or (caughtUp) the mark
// that its partition has reached the end it had at start. The mark travels
// on the same channel as the messages, so when the core sees it every
// message before it has been handled.
type delivery struct {
	msg      kafka.Message
	caughtUp bool
}

// plan is where one watched partition is read from, and up to where it
// must be read before the rules may judge.
type plan struct {
	topic      string
	partition  int
	start, end int64
}

// plans places one reader per watched partition at the first record at or
// after from (now − lookback): the rules are a function of the recent past,
// not of a committed position, so there is no consumer group and a restart
// re-reads that past. Aggregate partitions also re-read their newest
// records, whatever their age, so that a stall longer than the lookback is
// still measured from the data.
func (k *kafkaIO) plans(ctx context.Context, parts map[string][]int, aggTopic, dlqTopic string, from time.Time) ([]plan, error) {
	var out []plan
	for _, t := range []string{aggTopic, dlqTopic} {
		spans, err := k.spans(ctx, t, parts[t], from)
		if err != nil {
			return nil, err
		}
		for _, s := range spans {
			out = append(out, plan{topic: t, partition: s.Partition, start: startOffset(s, t == aggTopic), end: s.End})
		}
	}
	return out, nil
}

// startOffset is where a watched partition is read from: the first record
// of the lookback, and for aggregates at least the newest tailRecords.
func startOffset(s kafkaio.Span, aggregates bool) int64 {
	if !aggregates {
		return s.At
	}
	return min(s.At, max(s.First, s.End-tailRecords))
}

// watch starts the readers and returns a function that waits for their
// exit after ctx is done.
func (k *kafkaIO) watch(ctx context.Context, plans []plan, out chan<- delivery) (func(), error) {
	readers := make([]*kafka.Reader, 0, len(plans))
	for _, pl := range plans {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: k.brokers, Topic: pl.topic, Partition: pl.partition, Dialer: k.dialer,
			MinBytes: 1, MaxBytes: 10 << 20, MaxWait: kafkaio.FetchMaxWait,
			ErrorLogger: kafkaio.ReaderLog(k.log.With("topic", pl.topic, "partition", pl.partition)),
		})
		if err := r.SetOffset(pl.start); err != nil {
			r.Close()
			for _, r := range readers {
				r.Close()
			}
			return nil, fmt.Errorf("seek %s/%d to %d: %w", pl.topic, pl.partition, pl.start, err)
		}
		readers = append(readers, r)
	}
	var wg sync.WaitGroup
	for i, pl := range plans {
		k.log.Debug("watching", "topic", pl.topic, "partition", pl.partition, "from_offset", pl.start, "catch_up_to", pl.end)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer readers[i].Close()
			k.follow(ctx, readers[i], pl, out)
		}()
	}
	return wg.Wait, nil
}

// follow feeds one partition's messages to out until ctx ends, with the
// caught-up mark after the end the partition had at start.
func (k *kafkaIO) follow(ctx context.Context, r *kafka.Reader, pl plan, out chan<- delivery) {
	send := func(d delivery) bool {
		select {
		case out <- d:
			return true
		case <-ctx.Done():
			return false
		}
	}
	caught := pl.start >= pl.end
	if caught && !send(delivery{caughtUp: true}) {
		return
	}
	failing := false
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				k.log.Warn("read failed; retrying every second", "topic", pl.topic, "partition", pl.partition, "error", err)
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if failing {
			k.log.Info("reading again", "topic", pl.topic, "partition", pl.partition)
			failing = false
		}
		if !send(delivery{msg: m}) {
			return
		}
		if !caught && m.Offset >= pl.end-1 {
			caught = true
			if !send(delivery{caughtUp: true}) {
				return
			}
		}
	}
}
