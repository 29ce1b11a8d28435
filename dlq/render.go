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

// RenderTable writes the entries as an aligned table for people.
func RenderTable(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tREASON\tEVENT TIME\tFAILED AT\tREPLAYS\tERROR\tVALUE")
	for i := range entries {
		e := &entries[i]
		et := "-"
		if e.HasEventTime {
			et = event.FormatMillis(e.EventTimeMs)
		}
		replays := fmt.Sprint(e.ReplayCount)
		if e.Replayed {
			replays += " (replayed)"
		}
		fmt.Fprintf(tw, "%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Partition, e.Offset, e.Reason, et,
			event.FormatMillis(e.FailedAt.UnixMilli()), replays, clip(e.Error, 60), preview(e.Value, 40))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d dead letters\n", len(entries))
	return err
}

// jsonEntry is the --output json form: stable field names for scripts.
type jsonEntry struct {
	SourceTopic     string  `json:"source_topic"`
	SourcePartition int32   `json:"source_partition"`
	SourceOffset    int64   `json:"source_offset"`
	Reason          string  `json:"reason"`
	Error           string  `json:"error"`
	EventTime       *string `json:"event_time,omitempty"`
	FailedAt        string  `json:"failed_at"`
	ReplayCount     int     `json:"replay_count"`
	Replayed        bool    `json:"replayed"`
	DLQPartition    int     `json:"dlq_partition"`
	DLQOffset       int64   `json:"dlq_offset"`
	KeyB64          string  `json:"key_b64"`
	ValueB64        string  `json:"value_b64"`
}

// RenderJSON writes one JSON object per line.
func RenderJSON(w io.Writer, entries []Entry) error {
	enc := json.NewEncoder(w)
	for i := range entries {
		e := &entries[i]
		j := jsonEntry{SourceTopic: e.Topic, SourcePartition: e.Partition, SourceOffset: e.Offset, Reason: string(e.Reason),
			Error: e.Error, FailedAt: event.FormatMillis(e.FailedAt.UnixMilli()), ReplayCount: e.ReplayCount, Replayed: e.Replayed,
			DLQPartition: e.DLQPartition, DLQOffset: e.DLQOffset,
			KeyB64: base64.StdEncoding.EncodeToString(e.Key), ValueB64: base64.StdEncoding.EncodeToString(e.Value)}
		if e.HasEventTime {
			s := event.FormatMillis(e.EventTimeMs)
			j.EventTime = &s
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
	}
	return s
}

// Render writes the stats for people.
func (s Stats) Render(w io.Writer) error {
	fmt.Fprintf(w, "dead letters: %d (already replayed: %d, failed replays among them: %d)\n", s.Total, s.Replayed, s.FromReplays)
	if s.Total == 0 {
		return nil
	}
	fmt.Fprintf(w, "oldest: %s  newest: %s\n\n", event.FormatMillis(s.Oldest.UnixMilli()), event.FormatMillis(s.Newest.UnixMilli()))
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

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\t", " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// preview shows the start of a value as text when it is text, as base64
// when it is not, and never lets control characters reach the terminal.
func preview(v []byte, n int) string {
	if len(v) == 0 {
		return "(empty)"
	}
	if !utf8.Valid(v) {
		return "b64:" + clip(base64.StdEncoding.EncodeToString(v), n)
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '·'
		}
		return r
	}, string(v))
	return clip(s, n)
}
