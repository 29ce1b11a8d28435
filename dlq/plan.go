package dlq

import (
	"fmt"
	"slices"
	"strings"
)

// Skip is why a selected dead letter is not replayed.
type Skip string

// The reasons a replay skips a selected dead letter, in report order.
const (
	SkipReplayed   Skip = "already replayed"
	SkipMaxReplays Skip = "at the replay maximum"
	SkipTruncated  Skip = "truncated"
	SkipCopy       Skip = "copies of a selected dead letter"
)

// Skips lists every Skip in report order.
func Skips() []Skip { return []Skip{SkipReplayed, SkipMaxReplays, SkipTruncated, SkipCopy} }

// Plan is what a replay does with the selected dead letters, decided
// without I/O.
type Plan struct {
	Selected int
	Todo     []Entry
	Skipped  map[Skip]int
	// Truncated are the selected letters refused because their value was
	// cut to fit the DLQ: replaying them would inject other bytes.
	Truncated []Entry
	// Copies maps the DLQ coordinates of every planned entry to those of
	// the other dead letters of the same source record, so that the
	// ledger marks them all as replayed.
	Copies map[string][]string
}

// Written is the number of letters the plan replays.
func (p *Plan) Written() int { return len(p.Todo) }

// SkippedTotal is the number of selected letters the plan leaves out.
func (p *Plan) SkippedTotal() int {
	n := 0
	for _, v := range p.Skipped {
		n += v
	}
	return n
}

// MakePlan decides what a replay does with each selected entry: a letter
// that already failed maxReplays replays is skipped; one the ledger marks
// as replayed (itself or a copy) is skipped unless force; a truncated one
// is refused; of several letters about the same source record (a processor
// re-emits a dead letter after a crash) only the first is replayed, so one
// run never injects a record twice.
func MakePlan(selected []Entry, dlqTopic string, maxReplays int, force bool) *Plan {
	p := &Plan{Selected: len(selected), Skipped: map[Skip]int{}, Copies: map[string][]string{}}
	first := map[Coords]int{} // source → index of its first entry in selected
	replayed := map[Coords]bool{}
	for i := range selected {
		e := &selected[i]
		src := e.Source()
		if _, ok := first[src]; !ok {
			first[src] = i
		}
		replayed[src] = replayed[src] || e.Replayed
	}
	for i := range selected {
		e := &selected[i]
		src := e.Source()
		switch {
		case first[src] != i:
			p.Skipped[SkipCopy]++
			f := selected[first[src]].Coords(dlqTopic)
			p.Copies[f] = append(p.Copies[f], e.Coords(dlqTopic))
		case e.ReplayCount >= maxReplays:
			p.Skipped[SkipMaxReplays]++
		case replayed[src] && !force:
			p.Skipped[SkipReplayed]++
		case e.Truncated():
			p.Skipped[SkipTruncated]++
			p.Truncated = append(p.Truncated, *e)
		default:
			p.Todo = append(p.Todo, *e)
		}
	}
	return p
}

// CheckSources refuses a plan that cannot put every letter back where it
// came from: a letter from another topic than raw, or from a partition raw
// no longer has (fewer partitions after the topic was recreated). Hashing
// the key instead would move the user to another partition and count it
// twice.
func (p *Plan) CheckSources(raw string, partitions int) error {
	foreign := map[string]int{}
	missing := map[int32]int{}
	for _, e := range p.Todo {
		switch {
		case e.Topic != raw:
			foreign[e.Topic]++
		case int(e.Partition) >= partitions:
			missing[e.Partition]++
		}
	}
	var msgs []string
	for _, t := range sortedKeys(foreign) {
		msgs = append(msgs, fmt.Sprintf("%d come from topic %s, not from %s", foreign[t], t, raw))
	}
	for _, part := range sortedKeys(missing) {
		msgs = append(msgs, fmt.Sprintf("%d come from partition %d, which %s no longer has (it has %d)", missing[part], part, raw, partitions))
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to replay: each dead letter goes back to its source partition, but of the selected ones %s; leave them out of the selection", strings.Join(msgs, "; "))
}

func sortedKeys[K interface{ ~string | ~int32 }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
