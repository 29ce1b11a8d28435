// Package dlq is what a user runs after an incident: list, summarise and
// replay dead letters (contract §8, G4). Filtering (dlq.go), planning
// (plan.go) and rendering (render.go) are pure; the Kafka I/O is in
// source.go (reading, with the shared heal-or-stop policy), horizon.go (the
// processor's checkpoints), replay.go and follow.go (--wait).
package dlq

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
)

// Entry is a dead letter and where it sits on the DLQ topic.
type Entry struct {
	deadletter.Letter
	DLQPartition int
	DLQOffset    int64
	Replayed     bool // the replay ledger says it was replayed already
}

// Coords identify the entry on the DLQ topic: the replay ledger's key.
func (e *Entry) Coords(dlqTopic string) string {
	return fmt.Sprintf("%s/%d/%d", dlqTopic, e.DLQPartition, e.DLQOffset)
}

// Source identifies the raw record the letter is about. Two entries with
// the same Source are copies of one decision (a processor that crashed
// between writing a dead letter and its checkpoint writes it again).
func (e *Entry) Source() Coords {
	return Coords{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset}
}

// Coords name a record on a topic.
type Coords struct {
	Topic     string
	Partition int32
	Offset    int64
}

func (c Coords) String() string { return fmt.Sprintf("%s/%d@%d", c.Topic, c.Partition, c.Offset) }

// Filter selects dead letters. Zero values select everything.
type Filter struct {
	Reasons    []string
	Since      time.Time // failed at or after
	Until      time.Time // failed before
	Partitions []int32   // source partitions
	// Limit keeps at most this many matches; 0 = all (the default).
	Limit int
	// Newest keeps the newest Limit matches instead of the oldest (the
	// default): what a person listing dead letters after an incident wants.
	Newest bool
}

// Validate says what is wrong with a filter.
func (f *Filter) Validate() error {
	var errs []error
	for _, r := range f.Reasons {
		if !slices.Contains(event.Reasons(), event.Reason(r)) {
			errs = append(errs, fmt.Errorf("reason %q: want one of %s", r, reasonList()))
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		errs = append(errs, fmt.Errorf("until %s is not after since %s", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339)))
	}
	if f.Limit < 0 {
		errs = append(errs, fmt.Errorf("limit %d must not be negative", f.Limit))
	}
	return errors.Join(errs...)
}

func reasonList() string {
	var s []string
	for _, r := range event.Reasons() {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}

// Match reports whether a letter passes the filter (Limit aside).
func (f *Filter) Match(l *deadletter.Letter) bool {
	if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, string(l.Reason)) {
		return false
	}
	if !f.Since.IsZero() && l.FailedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !l.FailedAt.Before(f.Until) {
		return false
	}
	if len(f.Partitions) > 0 && !slices.Contains(f.Partitions, l.Partition) {
		return false
	}
	return true
}

// Apply filters entries, keeping their order, and applies the limit. It
// also returns how many matched before the limit.
func (f *Filter) Apply(entries []Entry) (kept []Entry, matched int) {
	var out []Entry
	for i := range entries {
		if f.Match(&entries[i].Letter) {
			out = append(out, entries[i])
		}
	}
	matched = len(out)
	if f.Limit > 0 && len(out) > f.Limit {
		if f.Newest {
			out = out[len(out)-f.Limit:]
		} else {
			out = out[:f.Limit]
		}
	}
	return out, matched
}

// ParseTime accepts RFC 3339 or a duration back from now ("90m" = 90
// minutes ago), the two ways people say "since".
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 30m", s)
}

// ParsePartitions parses "0,2,5".
func ParsePartitions(s string) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	var out []int32
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want partition numbers like 0,2", s)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
