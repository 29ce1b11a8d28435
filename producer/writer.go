package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/retry"
)

// BatchWriter writes batches of records to one topic and heals transient
// failures (a broker restarting, a leader moving): it retries only the
// records the broker did not acknowledge, so a retry never re-sends what
// was written, under a retry.Policy that logs once per change of state. The
// producer and chaos share it.
type BatchWriter struct {
	w      *kafka.Writer
	policy retry.Policy
	log    *slog.Logger
	what   string
}

// NewBatchWriter returns a writer keyed like every raw-topic writer
// (kafkaio.NewWriter). log may be nil.
func NewBatchWriter(brokers []string, topic string, p retry.Policy, log *slog.Logger) *BatchWriter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := kafkaio.NewWriter(brokers, topic)
	// kafka-go retries a blip itself; an outage is this writer's to heal,
	// with backoff and a log line, so kafka-go gives it back quickly.
	w.MaxAttempts = 3
	return &BatchWriter{w: w, policy: p, log: log, what: "write to " + topic}
}

// Write writes msgs and reports which ones the broker acknowledged. A
// batch in flight is finished even if ctx ends; ctx ends the retries. The
// error is the last one when some records could not be written.
func (b *BatchWriter) Write(ctx context.Context, msgs []kafka.Message) (written []bool, err error) {
	written = make([]bool, len(msgs))
	pending := make([]int, len(msgs))
	for i := range pending {
		pending[i] = i
	}
	_, err = retry.Do(ctx, b.policy, b.log, b.what, kafkaio.Transient, func(ctx context.Context) (struct{}, error) {
		batch := make([]kafka.Message, len(pending))
		for j, i := range pending {
			batch[j] = msgs[i]
		}
		err := b.w.WriteMessages(context.WithoutCancel(ctx), batch...)
		var we kafka.WriteErrors
		switch {
		case err == nil:
			for _, i := range pending {
				written[i] = true
			}
			pending = nil
		case errors.As(err, &we) && len(we) == len(pending):
			still := pending[:0]
			for j, i := range pending {
				if we[j] == nil {
					written[i] = true
				} else {
					still = append(still, i)
				}
			}
			pending = still
			// kafka-go's WriteErrors prints one error per record, with a
			// count that changes every attempt: log the distinct causes.
			err = distinct(we)
			if !kafkaio.Transient(we) {
				err = retry.Permanent(err)
			}
		}
		return struct{}{}, err
	})
	if err != nil {
		err = fmt.Errorf("%d of %d records not written: %w", len(pending), len(msgs), err)
	}
	return written, err
}

// causes are the distinct errors of a write, in order of first
// appearance.
type causes []error

func (c causes) Error() string {
	s := make([]string, len(c))
	for i, e := range c {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (c causes) Unwrap() []error { return c }

func distinct(we kafka.WriteErrors) error {
	var out causes
	seen := map[string]bool{}
	for _, e := range we {
		if e != nil && !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// Close flushes and closes the underlying writer.
func (b *BatchWriter) Close() error { return b.w.Close() }
