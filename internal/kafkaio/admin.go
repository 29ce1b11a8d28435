package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/topic"
)

// CreateTopics creates every topic that does not exist yet and checks that
// existing ones have the expected partition count. It is idempotent.
func CreateTopics(ctx context.Context, brokers []string, specs []topic.Spec) ([]string, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: -1}
		for k, v := range s.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	var created []string
	var errs []error
	for _, s := range specs {
		switch err := resp.Errors[s.Name]; {
		case err == nil:
			created = append(created, s.Name)
		case errors.Is(err, kafka.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
		}
	}
	if len(errs) > 0 {
		return created, errors.Join(errs...)
	}
	counts, err := PartitionCounts(ctx, brokers, names(specs)...)
	if err != nil {
		return created, err
	}
	for _, s := range specs {
		if counts[s.Name] != s.Partitions {
			errs = append(errs, fmt.Errorf("topic %s has %d partitions, want %d (delete it or pass --partitions %d)", s.Name, counts[s.Name], s.Partitions, counts[s.Name]))
		}
	}
	return created, errors.Join(errs...)
}

func names(specs []topic.Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// PartitionCounts returns the partition count of each topic (0 if missing).
func PartitionCounts(ctx context.Context, brokers []string, topics ...string) (map[string]int, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	// Metadata can lag right after creation; retry briefly until it settles.
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil {
			out := make(map[string]int, len(topics))
			ok := true
			for _, t := range md.Topics {
				if t.Error != nil {
					ok = false
					last = fmt.Errorf("metadata for %s: %w", t.Name, t.Error)
					continue
				}
				out[t.Name] = len(t.Partitions)
			}
			if ok {
				return out, nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("read topic metadata: %w", last)
}
