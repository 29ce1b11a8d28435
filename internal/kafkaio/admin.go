package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/retry"
	"github.com/streamlab/streamlab/internal/topic"
)

// ErrNoTopic is wrapped by the errors of AwaitTopic and EnsureTopics when
// a topic does not exist.
var ErrNoTopic = errors.New("topic does not exist")

// missingGrace is how long a missing topic counts as "just created, the
// broker has not seen it yet" before it is a permanent error: CreateTopics
// returns once the controller has the topic, a broker's metadata follows
// within moments.
const missingGrace = 5 * time.Second

// errNotYet marks what the controller has done but a broker does not show
// yet: a topic just created, a config just changed. Brokers follow the
// controller's metadata asynchronously, so it is retried like a transient
// error.
var errNotYet = errors.New("not visible on the broker yet")

// settling is Transient plus errNotYet.
func settling(err error) bool { return errors.Is(err, errNotYet) || Transient(err) }

func client(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// AwaitTopic waits until Kafka answers for the topic and returns its
// partition count. Transient errors (broker not up yet, no leader) are
// retried under p, logging once per change of state; a topic still missing
// after a few seconds is a permanent error wrapping ErrNoTopic. log may be
// nil.
func AwaitTopic(ctx context.Context, brokers []string, name string, p retry.Policy, log *slog.Logger) (int, error) {
	var missingSince time.Time
	return retry.Do(ctx, p, orDiscard(log), "connect to Kafka at "+strings.Join(brokers, ","), settling, func(ctx context.Context) (int, error) {
		n, err := partitions(ctx, brokers, name)
		if errors.Is(err, ErrNoTopic) {
			if missingSince.IsZero() {
				missingSince = time.Now()
			}
			if time.Since(missingSince) >= missingGrace {
				return 0, retry.Permanent(err)
			}
			return 0, fmt.Errorf("%w (%w)", err, errNotYet) // just created, maybe
		}
		return n, err
	})
}

// partitions is one metadata request for one topic.
func partitions(ctx context.Context, brokers []string, name string) (int, error) {
	counts, err := describePartitions(ctx, brokers, []string{name})
	if err != nil {
		return 0, err
	}
	return counts[name], nil
}

// describePartitions is one metadata request; a topic the broker does not
// know is an error wrapping ErrNoTopic, a partition without a leader one
// wrapping errNotYet.
func describePartitions(ctx context.Context, brokers []string, names []string) (map[string]int, error) {
	md, err := client(brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(names))
	var errs []error
	for _, t := range md.Topics {
		switch {
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, ErrNoTopic))
		case t.Error != nil:
			errs = append(errs, fmt.Errorf("metadata for %s: %w", t.Name, t.Error))
		default:
			out[t.Name] = len(t.Partitions)
			// A partition without a leader cannot be written or read
			// yet: right after creation, or while a broker restarts.
			for _, p := range t.Partitions {
				if p.Error != nil || p.Leader.Host == "" {
					errs = append(errs, fmt.Errorf("%s partition %d has no leader yet: %w", t.Name, p.ID, errNotYet))
					break
				}
			}
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("%s: %w", n, ErrNoTopic))
		}
	}
	return out, errors.Join(errs...)
}

// TopicConfigs describes the topics' configs (every setting, defaults
// included) in one request: topic name → setting → value.
func TopicConfigs(ctx context.Context, brokers []string, names ...string) (map[string]map[string]string, error) {
	req := &kafka.DescribeConfigsRequest{}
	for _, n := range names {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: n})
	}
	resp, err := client(brokers).DescribeConfigs(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]string, len(names))
	var errs []error
	for _, r := range resp.Resources {
		if r.Error != nil {
			if errors.Is(r.Error, kafka.UnknownTopicOrPartition) {
				errs = append(errs, fmt.Errorf("%s: %w (%w)", r.ResourceName, ErrNoTopic, r.Error))
			} else {
				errs = append(errs, fmt.Errorf("describe configs of %s: %w", r.ResourceName, r.Error))
			}
			continue
		}
		m := make(map[string]string, len(r.ConfigEntries))
		for _, e := range r.ConfigEntries {
			m[e.ConfigName] = e.ConfigValue
		}
		out[r.ResourceName] = m
	}
	return out, errors.Join(errs...)
}

// EnsureOptions tune EnsureTopics.
type EnsureOptions struct {
	// Retry bounds the retries of transient errors (broker not up yet, no
	// controller yet); the zero value means retry.DefaultPolicy().
	Retry retry.Policy
	// Logger gets one line per change of state while retrying; nil means
	// silent.
	Logger *slog.Logger
	// UpdateConfigs sets the spec's configs on topics that already exist
	// and differ. Default false: an existing topic is only reported, since
	// its settings may be the operator's choice (a shorter retention
	// deletes data). Partition counts are never changed.
	UpdateConfigs bool
}

// TopicState is a topic as the broker describes it after EnsureTopics.
type TopicState struct {
	Name    string
	Created bool     // this call created it
	Updated []string // settings this call changed on it
	// Partitions is the count the broker reports.
	Partitions int
	// Differences are the settings that still differ from the spec.
	Differences []topic.Difference
}

// Breaks reports whether the pipeline cannot work with the topic as it is.
func (s TopicState) Breaks() bool {
	return slices.ContainsFunc(s.Differences, func(d topic.Difference) bool { return d.Breaks })
}

// EnsureTopics creates every topic that does not exist, reads every topic
// back from the broker (partition count and configs) and compares it with
// its spec. A topic whose spec Holds another's records gets room for that
// topic's limit (topic.DLQMessageBytes). Transient errors are retried under
// opts.Retry. The error lists the differences the pipeline cannot work with
// (TopicState.Breaks); the states are returned with it, so that a caller
// can show what the broker has.
func EnsureTopics(ctx context.Context, brokers []string, specs []topic.Spec, opts EnsureOptions) ([]TopicState, error) {
	if opts.Retry == (retry.Policy{}) {
		opts.Retry = retry.DefaultPolicy()
	}
	log := orDiscard(opts.Logger)
	what := "Kafka at " + strings.Join(brokers, ",")
	created := map[string]bool{}
	if _, err := retry.Do(ctx, opts.Retry, log, "create topics on "+what, Transient, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, createMissing(ctx, brokers, specs, created)
	}); err != nil {
		return nil, err
	}
	// read reads every topic back until settled accepts what it sees.
	read := func(settled func(map[string]map[string]string) error) (map[string]int, map[string]map[string]string, error) {
		type described struct {
			parts   map[string]int
			configs map[string]map[string]string
		}
		once := func(ctx context.Context) (described, error) {
			parts, err := describePartitions(ctx, brokers, names(specs))
			if err != nil {
				return described{}, notYetIfMissing(err)
			}
			configs, err := TopicConfigs(ctx, brokers, names(specs)...)
			if err == nil {
				err = settled(configs)
			}
			return described{parts, configs}, notYetIfMissing(err)
		}
		d, err := retry.Do(ctx, opts.Retry, log, "read topics back from "+what, settling, func(ctx context.Context) (described, error) {
			// A broker usually shows what the controller did within a
			// few hundred milliseconds: wait that out quietly, so that
			// only an unusual delay is logged.
			d, err := once(ctx)
			for i := 0; i < 20 && errors.Is(err, errNotYet) && ctx.Err() == nil; i++ {
				time.Sleep(100 * time.Millisecond)
				d, err = once(ctx)
			}
			return d, err
		})
		return d.parts, d.configs, err
	}
	parts, configs, err := read(func(map[string]map[string]string) error { return nil })
	if err != nil {
		return nil, err
	}
	specs = withRoom(specs, configs)
	changes := updates(specs, parts, configs, created, opts.UpdateConfigs)
	if len(changes) > 0 {
		if _, err := retry.Do(ctx, opts.Retry, log, "update topic configs on "+what, Transient, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, alterConfigs(ctx, brokers, changes)
		}); err != nil {
			return nil, err
		}
		if parts, configs, err = read(func(configs map[string]map[string]string) error { return applied(changes, configs) }); err != nil {
			return nil, err
		}
	}
	states := make([]TopicState, len(specs))
	var errs []error
	for i, s := range specs {
		states[i] = TopicState{Name: s.Name, Created: created[s.Name], Partitions: parts[s.Name],
			Updated: slices.Sorted(maps.Keys(changes[s.Name])), Differences: s.Compare(parts[s.Name], configs[s.Name])}
		for _, d := range states[i].Differences {
			if d.Breaks {
				errs = append(errs, fmt.Errorf("topic %s: %s", s.Name, d))
			}
		}
	}
	return states, errors.Join(errs...)
}

// createMissing sends one CreateTopics request for every spec and notes in
// created the topics it created.
func createMissing(ctx context.Context, brokers []string, specs []topic.Spec, created map[string]bool) error {
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		if created[s.Name] {
			continue
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: -1}
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		req.Topics = append(req.Topics, tc)
	}
	if len(req.Topics) == 0 {
		return nil
	}
	resp, err := client(brokers).CreateTopics(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range req.Topics {
		switch err := resp.Errors[t.Topic]; {
		case err == nil:
			created[t.Topic] = true
		case errors.Is(err, kafka.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Topic, err))
		}
	}
	return errors.Join(errs...)
}

// notYetIfMissing keeps a missing topic transient while reading back:
// every topic exists by then, and a broker's metadata may lag the
// controller's for a moment.
func notYetIfMissing(err error) error {
	if errors.Is(err, ErrNoTopic) {
		return fmt.Errorf("%w (%w)", err, errNotYet)
	}
	return err
}

// applied says whether the described configs show every change.
func applied(changes, configs map[string]map[string]string) error {
	for name, kv := range changes {
		for k, v := range kv {
			if !topic.SameSetting(k, configs[name][k], v) {
				return fmt.Errorf("topic %s: %s=%s, set to %s: %w", name, k, configs[name][k], v, errNotYet)
			}
		}
	}
	return nil
}

// withRoom raises the message size limit of every spec that holds another
// topic's records to what that topic accepts, as described.
func withRoom(specs []topic.Spec, configs map[string]map[string]string) []topic.Spec {
	out := slices.Clone(specs)
	for i, s := range out {
		if s.Holds == "" {
			continue
		}
		limit, err := strconv.Atoi(configs[s.Holds][topic.MaxMessageBytes])
		if err != nil {
			continue
		}
		s.Configs = maps.Clone(s.Configs)
		s.Configs[topic.MaxMessageBytes] = strconv.Itoa(topic.DLQMessageBytes(limit))
		out[i] = s
	}
	return out
}

// updates returns, per topic, the spec settings to set: on topics this run
// created (their settings are the spec's by definition), and on existing
// ones when update is true.
func updates(specs []topic.Spec, parts map[string]int, configs map[string]map[string]string, created map[string]bool, update bool) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, s := range specs {
		if !created[s.Name] && !update {
			continue
		}
		for _, d := range s.Compare(parts[s.Name], configs[s.Name]) {
			if d.Setting == "partitions" {
				continue
			}
			if out[s.Name] == nil {
				out[s.Name] = map[string]string{}
			}
			out[s.Name][d.Setting] = s.Configs[d.Setting]
		}
	}
	return out
}

func alterConfigs(ctx context.Context, brokers []string, changes map[string]map[string]string) error {
	req := &kafka.IncrementalAlterConfigsRequest{}
	for _, name := range slices.Sorted(maps.Keys(changes)) {
		r := kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: name}
		for _, k := range slices.Sorted(maps.Keys(changes[name])) {
			r.Configs = append(r.Configs, kafka.IncrementalAlterConfigsRequestConfig{Name: k, Value: changes[name][k], ConfigOperation: kafka.ConfigOperationSet})
		}
		req.Resources = append(req.Resources, r)
	}
	resp, err := client(brokers).IncrementalAlterConfigs(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range resp.Resources {
		if r.Error != nil {
			errs = append(errs, fmt.Errorf("update configs of %s: %w", r.ResourceName, r.Error))
		}
	}
	return errors.Join(errs...)
}

// CreateTopics is EnsureTopics with the default options for callers that
// only need the topics to exist (the demo, tests): it returns the names it
// created, and an error when a topic cannot serve the pipeline.
func CreateTopics(ctx context.Context, brokers []string, specs []topic.Spec) ([]string, error) {
	states, err := EnsureTopics(ctx, brokers, specs, EnsureOptions{})
	var created []string
	for _, s := range states {
		if s.Created {
			created = append(created, s.Name)
		}
	}
	return created, err
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
