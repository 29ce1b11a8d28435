package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/topic"
)

// Source says where the dead letters and their companions live.
type Source struct {
	// Brokers to bootstrap from; required.
	Brokers []string
	// Topics: DLQ and Replays (the ledger) are read by every command; a
	// replay also needs Raw, and State for the replay horizon. Default
	// topic.Defaults().
	Topics topic.Names
	// ConnectTimeout bounds how long a broker that is not up yet, or a
	// partition without a leader yet (right after topics create), is
	// waited for; default 3m (retry.DefaultPolicy). A missing topic is
	// not waited for.
	ConnectTimeout time.Duration
	// Log receives one line per change of the connection state; default
	// none.
	Log *slog.Logger
}

// Validate says what is wrong with a source.
func (s *Source) Validate() error {
	var errs []error
	if len(s.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers given"))
	}
	if s.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("connect timeout %s must not be negative", s.ConnectTimeout))
	}
	return errors.Join(errs...)
}

func (s *Source) withDefaults() Source {
	out := *s
	if out.Topics == (topic.Names{}) {
		out.Topics = topic.Defaults()
	}
	if out.ConnectTimeout == 0 {
		out.ConnectTimeout = retry.DefaultPolicy().Timeout
	}
	if out.Log == nil {
		out.Log = slog.New(slog.DiscardHandler)
	}
	return out
}

func (s *Source) policy() retry.Policy {
	p := retry.DefaultPolicy()
	p.Timeout = s.ConnectTimeout
	return p
}

// ErrMissingTopic is wrapped by the error about a topic that does not exist.
var ErrMissingTopic = errors.New("topic does not exist")

// partitionCounts returns the partition count of each topic, waiting out
// transient failures (a broker not up yet, leaders not elected yet) within
// the connect timeout. A topic in required that does not exist is a
// permanent error naming the fix; the others come back as 0.
func (s *Source) partitionCounts(ctx context.Context, required []string, optional ...string) (map[string]int, error) {
	all := append(slices.Clone(required), optional...)
	client := &kafka.Client{Addr: kafka.TCP(s.Brokers...), Timeout: 10 * time.Second}
	return retry.Do(ctx, s.policy(), s.Log, fmt.Sprintf("read topic metadata from %v", s.Brokers), kafkaio.Transient,
		func(ctx context.Context) (map[string]int, error) {
			md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: all})
			if err != nil {
				return nil, err
			}
			out := make(map[string]int, len(all))
			for _, t := range md.Topics {
				switch {
				case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
					if slices.Contains(required, t.Name) {
						return nil, retry.Permanent(fmt.Errorf("%s: %w: create it with 'streamlab topics create' (or point to the right topic)", t.Name, ErrMissingTopic))
					}
				case t.Error != nil:
					return nil, fmt.Errorf("metadata of %s: %w", t.Name, t.Error)
				default:
					for _, p := range t.Partitions {
						if p.Error != nil {
							return nil, fmt.Errorf("metadata of %s/%d: %w", t.Name, p.ID, p.Error)
						}
						if p.Leader.Host == "" {
							return nil, fmt.Errorf("%s/%d: %w", t.Name, p.ID, kafka.LeaderNotAvailable)
						}
					}
					out[t.Name] = len(t.Partitions)
				}
			}
			return out, nil
		})
}

// Read returns every dead letter on the DLQ topic, the oldest failure
// first, marked with what the replay ledger knows, keys and values exact
// (null stays null, empty stays empty). Records that are not dead letters
// (no context headers) are reported and skipped. A missing ledger means
// nothing was replayed yet.
func Read(ctx context.Context, src Source) ([]Entry, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	s := src.withDefaults()
	counts, err := s.partitionCounts(ctx, []string{s.Topics.DLQ}, s.Topics.Replays)
	if err != nil {
		return nil, err
	}
	return retry.Do(ctx, s.policy(), s.Log, "read dead letters from "+s.Topics.DLQ, kafkaio.Transient,
		func(ctx context.Context) ([]Entry, error) { return s.read(ctx, counts) })
}

func (s *Source) read(ctx context.Context, counts map[string]int) ([]Entry, error) {
	replayed := map[string]bool{}
	for p := 0; p < counts[s.Topics.Replays]; p++ {
		if err := kafkaio.ReadPartitionToEnd(ctx, s.Brokers, s.Topics.Replays, p, func(m kafka.Message) error {
			replayed[string(m.Key)] = m.Value != nil
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read replay ledger %s: %w", s.Topics.Replays, err)
		}
	}
	var msgs []kafka.Message
	for p := 0; p < counts[s.Topics.DLQ]; p++ {
		if err := kafkaio.ReadPartitionToEnd(ctx, s.Brokers, s.Topics.DLQ, p, func(m kafka.Message) error {
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Topics.DLQ, err)
		}
	}
	if err := kafkaio.RestoreEmpty(ctx, s.Brokers, msgs); err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(msgs))
	bad := 0
	for _, m := range msgs {
		l, err := deadletter.FromMessage(m)
		if err != nil {
			bad++
			continue
		}
		e := Entry{Letter: *l, DLQPartition: m.Partition, DLQOffset: m.Offset}
		e.Replayed = replayed[e.Coords(s.Topics.DLQ)]
		entries = append(entries, e)
	}
	if bad > 0 {
		s.Log.Warn("skipped records without dead-letter headers", "topic", s.Topics.DLQ, "count", bad)
	}
	sortByFailure(entries)
	return entries, nil
}

// sortByFailure orders entries by failed_at, then by DLQ position: the
// order "oldest first" and "newest" refer to.
func sortByFailure(entries []Entry) {
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(a.FailedAt.Compare(b.FailedAt), cmp.Compare(a.DLQPartition, b.DLQPartition), cmp.Compare(a.DLQOffset, b.DLQOffset))
	})
}
