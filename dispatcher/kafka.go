package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/dispatcher/incident"
)

// kafkaIO holds what the dispatcher needs to talk to the brokers.
type kafkaIO struct {
	brokers []string
	client  *kafka.Client
	dialer  *kafka.Dialer
	log     *slog.Logger
}

func newKafkaIO(cfg Config, log *slog.Logger) *kafkaIO {
	return &kafkaIO{
		brokers: cfg.Brokers,
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second,
			Transport: &kafka.Transport{ClientID: cfg.ClientID, DialTimeout: 5 * time.Second}},
		dialer: &kafka.Dialer{ClientID: cfg.ClientID, Timeout: 10 * time.Second},
		log:    log,
	}
}

// partitions waits until every topic exists and returns its partitions. It
// does not create topics (that is the setup command's job, with the right
// partition counts); in docker-compose the dispatcher may simply be first.
func (k *kafkaIO) partitions(ctx context.Context, topics ...string) (map[string][]int, error) {
	for attempt := 0; ; attempt++ {
		out, err := k.metadata(ctx, topics)
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		k.log.Warn("waiting for Kafka topics", "topics", topics, "attempt", attempt+1, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Second<<min(attempt, 4), 10*time.Second)):
		}
	}
}

func (k *kafkaIO) metadata(ctx context.Context, topics []string) (map[string][]int, error) {
	res, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, t := range res.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p.ID)
		}
	}
	for _, t := range topics {
		if len(out[t]) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions", t)
		}
	}
	return out, nil
}

// offsets returns the offset of the first message at or after `at` (the
// end when none is) and the end offset (the next offset to be written).
// at.IsZero() means the log start.
func (k *kafkaIO) offsets(ctx context.Context, topic string, partition int, at time.Time) (start, end int64, err error) {
	var conn *kafka.Conn
	for _, b := range k.brokers {
		if conn, err = k.dialer.DialLeader(ctx, "tcp", b, topic, partition); err == nil {
			break
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("dial leader of %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if end, err = conn.ReadLastOffset(); err != nil {
		return 0, 0, fmt.Errorf("end offset of %s/%d: %w", topic, partition, err)
	}
	if at.IsZero() {
		start, err = conn.ReadFirstOffset()
	} else {
		start, err = conn.ReadOffset(at)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("start offset of %s/%d: %w", topic, partition, err)
	}
	if start < 0 || start > end {
		start = end // nothing written since `at`
	}
	return start, end, nil
}

func (k *kafkaIO) reader(topic string, partition int, offset int64) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.brokers, Topic: topic, Partition: partition, Dialer: k.dialer,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond,
	})
	if err := r.SetOffset(offset); err != nil {
		r.Close()
		return nil, fmt.Errorf("seek %s/%d to %d: %w", topic, partition, offset, err)
	}
	return r, nil
}

// readAlerts reads alerts.v1 from the beginning to the end it had when
// called: the incident history a restart rebuilds from.
func (k *kafkaIO) readAlerts(ctx context.Context, topic string, partitions []int) ([]*incident.Alert, error) {
	var out []*incident.Alert
	for _, p := range partitions {
		start, end, err := k.offsets(ctx, topic, p, time.Time{})
		if err != nil {
			return nil, err
		}
		if start >= end {
			continue
		}
		r, err := k.reader(topic, p, start)
		if err != nil {
			return nil, err
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			if a, err := incident.Unmarshal(m.Value); err != nil {
				k.log.Warn("skipping undecodable alert", "partition", p, "offset", m.Offset, "error", err)
			} else {
				out = append(out, a)
			}
			if m.Offset >= end-1 {
				break
			}
		}
		r.Close()
	}
	return out, nil
}

// delivery is a message from a watched partition, or (caughtUp) the mark
// that its partition has reached the end it had at start. The mark travels
// on the same channel as the messages, so when the core sees it every
// message before it has been handled.
type delivery struct {
	msg      kafka.Message
	caughtUp bool
}

// watch starts one reader per partition of the topics, each at the first
// message at or after `from` (now − lookback): the rules need that much
// history for their baselines, and it is why there is no consumer group and
// no committed offset (a restart simply re-reads the recent past). It
// returns the number of partitions (of caught-up marks to expect) and a
// wait function for the readers' exit after ctx is done.
func (k *kafkaIO) watch(ctx context.Context, parts map[string][]int, topics []string, from time.Time, out chan<- delivery) (int, func(), error) {
	type plan struct {
		topic      string
		p          int
		start, end int64
	}
	var plans []plan
	for _, t := range topics {
		for _, p := range parts[t] {
			start, end, err := k.offsets(ctx, t, p, from)
			if err != nil {
				return 0, nil, err
			}
			plans = append(plans, plan{t, p, start, end})
		}
	}
	var readers []*kafka.Reader
	for _, pl := range plans {
		r, err := k.reader(pl.topic, pl.p, pl.start)
		if err != nil {
			for _, r := range readers {
				r.Close()
			}
			return 0, nil, err
		}
		readers = append(readers, r)
	}
	var wg sync.WaitGroup
	for i, pl := range plans {
		r := readers[i]
		k.log.Debug("watching", "topic", pl.topic, "partition", pl.p, "from_offset", pl.start, "catch_up_to", pl.end)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
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
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					k.log.Warn("read failed; retrying", "topic", pl.topic, "partition", pl.p, "error", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
					continue
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
		}()
	}
	return len(plans), wg.Wait, nil
}
