package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// RetentionError says that the topic would delete the records as they are
// written: they carry the event clock as their timestamp (so that a replay
// of the same log gives the same decisions), and the clock starts further
// back than the topic keeps records. The broker's next retention pass
// (every 5 minutes by default) would delete them, and the run would still
// report them as produced.
type RetentionError struct {
	Topic     string
	Start     time.Time     // the event clock at the first record
	Age       time.Duration // how far Start is behind the wall clock
	Retention time.Duration // the topic's retention.ms
}

func (e *RetentionError) Error() string {
	return fmt.Sprintf("the event clock starts at %s, %s ago, but topic %s deletes records older than %s (retention.ms=%d): "+
		"the broker would delete what this run writes within minutes",
		e.Start.UTC().Format(time.RFC3339), span(e.Age), e.Topic, span(e.Retention), e.Retention.Milliseconds())
}

// Enough is a retention that keeps the first records as long as the
// topic's retention meant to: their age plus it, in whole days.
func (e *RetentionError) Enough() time.Duration {
	const day = 24 * time.Hour
	return (e.Age + e.Retention + day - 1) / day * day
}

// span prints long durations in days: "91 days" reads better than
// "2184h0m0s".
func span(d time.Duration) string {
	const day = 24 * time.Hour
	if d < 2*day {
		return d.Round(time.Second).String()
	}
	s := fmt.Sprintf("%d days", int(d/day))
	if h := int(d % day / time.Hour); h > 0 {
		s += fmt.Sprintf(" %dh", h)
	}
	return s
}

// checkRetention refuses a run whose first records the topic would delete
// at once (RetentionError) and warns when they would live less than half
// the topic's retention. A topic stamped by the broker (LogAppendTime) or
// without a time limit is fine whatever the event clock. When the configs
// cannot be read (e.g. no DescribeConfigs permission) it warns and lets the
// run go on: the check protects the data, it is not a precondition.
func checkRetention(ctx context.Context, cfg Config, start time.Time) error {
	all, err := retry.Do(ctx, cfg.Retry, cfg.Logger, "read the settings of "+cfg.Topic, kafkaio.Transient,
		func(ctx context.Context) (map[string]map[string]string, error) {
			return kafkaio.TopicConfigs(ctx, cfg.Brokers, cfg.Topic)
		})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		cfg.Logger.Warn("cannot check the topic's retention against the event clock; records older than it are deleted", "topic", cfg.Topic, "error", err)
		return nil
	}
	c := all[cfg.Topic]
	ms, err := strconv.ParseInt(c["retention.ms"], 10, 64)
	if c["message.timestamp.type"] == "LogAppendTime" || err != nil || ms < 0 {
		return nil
	}
	retention := time.Duration(ms) * time.Millisecond
	age := cfg.Now().Sub(start)
	switch {
	case age >= retention:
		return &RetentionError{Topic: cfg.Topic, Start: start, Age: age, Retention: retention}
	case age > retention/2:
		cfg.Logger.Warn("the event clock starts far back: the topic deletes the first records soon",
			"topic", cfg.Topic, "event_clock_start", start.UTC().Format(time.RFC3339), "deleted_in", span(retention-age), "retention", span(retention))
	}
	return nil
}
