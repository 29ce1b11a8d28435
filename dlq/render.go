package dlq

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/streamlab/streamlab/internal/event"
)

// Listing is what ls shows: the kept entries and how many matched.
type Listing struct {
	Entries []Entry
	Matched int  // matches before the limit
	Newest  bool // the limit kept the newest matches
}

// Limited reports whether the limit left matches out.
func (l Listing) Limited() bool { return len(l.Entries) < l.Matched }

// RenderTable writes the entries as an aligned table for people, the
// error last and whole, since it is what a person reads.
func (l Listing) RenderTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tREASON\tEVENT TIME\tFAILED AT\tREPLAYS\tVALUE\tERROR")
	for i := range l.Entries {
		e := &l.Entries[i]
		et := "-"
		if e.HasEventTime {
			et = event.FormatMillis(e.EventTimeMs)
		}
		replays := fmt.Sprint(e.ReplayCount)
		if e.Replayed {
			replays += " (replayed)"
		}
		value := preview(e.Value, 40)
		if e.Truncated() {
			value = fmt.Sprintf("[cut from %d B] %s", e.OriginalValueBytes, value)
		}
		fmt.Fprintf(tw, "%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Partition, e.Offset, e.Reason, et,
			event.FormatMillis(e.FailedAt.UnixMilli()), replays, value, printable(e.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var err error
	switch {
	case !l.Limited():
		_, err = fmt.Fprintf(w, "%d dead letters\n", len(l.Entries))
	case l.Newest:
		_, err = fmt.Fprintf(w, "the newest %d of %d matching dead letters\n", len(l.Entries), l.Matched)
	default:
		_, err = fmt.Fprintf(w, "the oldest %d of %d matching dead letters\n", len(l.Entries), l.Matched)
	}
	return err
}

// jsonEntry is the --output json form: stable field names for scripts. A
// null key or value is JSON null, an empty one "".
type jsonEntry struct {
	SourceTopic     string       `json:"source_topic"`
	SourcePartition int32        `json:"source_partition"`
	SourceOffset    int64        `json:"source_offset"`
	Reason          string       `json:"reason"`
	Error           string       `json:"error"`
	EventTime       *string      `json:"event_time,omitempty"`
	FailedAt        string       `json:"failed_at"`
	ReplayCount     int          `json:"replay_count"`
	Replayed        bool         `json:"replayed"`
	DLQPartition    int          `json:"dlq_partition"`
	DLQOffset       int64        `json:"dlq_offset"`
	KeyB64          *string      `json:"key_b64"`
	ValueB64        *string      `json:"value_b64"`
	Headers         []jsonHeader `json:"headers,omitempty"`
	TruncatedFrom   int          `json:"truncated_from,omitempty"`
	ValueSHA256     string       `json:"value_sha256,omitempty"`
}

type jsonHeader struct {
	Key      string  `json:"key"`
	ValueB64 *string `json:"value_b64"`
}

func b64(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

// RenderJSON writes one JSON object per line.
func (l Listing) RenderJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for i := range l.Entries {
		e := &l.Entries[i]
		j := jsonEntry{SourceTopic: e.Topic, SourcePartition: e.Partition, SourceOffset: e.Offset, Reason: string(e.Reason),
			Error: e.Error, FailedAt: event.FormatMillis(e.FailedAt.UnixMilli()), ReplayCount: e.ReplayCount, Replayed: e.Replayed,
			DLQPartition: e.DLQPartition, DLQOffset: e.DLQOffset, KeyB64: b64(e.Key), ValueB64: b64(e.Value),
			TruncatedFrom: e.OriginalValueBytes, ValueSHA256: e.OriginalValueSHA256}
		if e.HasEventTime {
			s := event.FormatMillis(e.EventTimeMs)
			j.EventTime = &s
		}
		for _, h := range e.RawHeaders {
			j.Headers = append(j.Headers, jsonHeader{Key: h.Key, ValueB64: b64(h.Value)})
		}
		if err := enc.Encode(&j); err != nil {
			return err
		}
	}
	return nil
}

// Stats summarise dead letters.
type Stats struct {
	Total          int
	ByReason       map[string]int
	ByHour         map[time.Time]int
	Oldest, Newest time.Time
	Replayed       int // entries the ledger marks as replayed
	FromReplays    int // entries that are themselves failed replays (replay_count > 0)
	Truncated      int // entries whose value was cut to fit the DLQ topic
}

// Summarise computes Stats.
func Summarise(entries []Entry) Stats {
	s := Stats{ByReason: map[string]int{}, ByHour: map[time.Time]int{}}
	for i := range entries {
		e := &entries[i]
		s.Total++
		s.ByReason[string(e.Reason)]++
		s.ByHour[e.FailedAt.UTC().Truncate(time.Hour)]++
		if s.Oldest.IsZero() || e.FailedAt.Before(s.Oldest) {
			s.Oldest = e.FailedAt
		}
		if e.FailedAt.After(s.Newest) {
			s.Newest = e.FailedAt
		}
		if e.Replayed {
			s.Replayed++
		}
		if e.ReplayCount > 0 {
			s.FromReplays++
		}
		if e.Truncated() {
			s.Truncated++
		}
	}
	return s
}

// Render writes the stats for people.
func (s Stats) Render(w io.Writer) error {
	fmt.Fprintf(w, "dead letters: %d (already replayed: %d, failed replays among them: %d)\n", s.Total, s.Replayed, s.FromReplays)
	if s.Total == 0 {
		return nil
	}
	fmt.Fprintf(w, "oldest: %s  newest: %s\n", event.FormatMillis(s.Oldest.UnixMilli()), event.FormatMillis(s.Newest.UnixMilli()))
	if s.Truncated > 0 {
		fmt.Fprintf(w, "truncated to fit the DLQ topic (cannot be replayed): %d\n", s.Truncated)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tCOUNT")
	for _, r := range event.Reasons() {
		if n := s.ByReason[string(r)]; n > 0 {
			fmt.Fprintf(tw, "%s\t%d\n", r, n)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	hours := make([]time.Time, 0, len(s.ByHour))
	for h := range s.ByHour {
		hours = append(hours, h)
	}
	sort.Slice(hours, func(i, j int) bool { return hours[i].Before(hours[j]) })
	fmt.Fprintln(tw, "HOUR (UTC)\tCOUNT")
	for _, h := range hours {
		fmt.Fprintf(tw, "%s\t%d\n", h.Format("2006-01-02 15:00"), s.ByHour[h])
	}
	return tw.Flush()
}

// printable replaces control characters, so that no byte of a dead letter
// can move the cursor or recolour a terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '·'
		}
		return r
	}, s)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// preview shows the start of a value as text when it is text, as base64
// when it is not, and never lets control characters reach the terminal.
func preview(v []byte, n int) string {
	switch {
	case v == nil:
		return "(null)"
	case len(v) == 0:
		return "(empty)"
	case !utf8.Valid(v):
		return "b64:" + clip(base64.StdEncoding.EncodeToString(v), n)
	}
	return clip(printable(string(v)), n)
}
