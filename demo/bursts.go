package demo

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamlab/streamlab/chaos"
)

// Burst is one chaos injection: Count messages of Kind, At after the start
// (scheduled bursts; a typed one has no At).
type Burst struct {
	At    time.Duration
	Kind  string
	Count int64
}

func (b Burst) validate() error {
	var errs []error
	if b.At < 0 {
		errs = append(errs, fmt.Errorf("At %s must not be negative", b.At))
	}
	if !slices.Contains(chaos.Kinds(), b.Kind) {
		errs = append(errs, fmt.Errorf("Kind %q is not one of %s", b.Kind, strings.Join(chaos.Kinds(), ", ")))
	}
	if b.Count < 1 {
		errs = append(errs, fmt.Errorf("Count %d must be at least 1", b.Count))
	}
	return errors.Join(errs...)
}

// ParseSchedule parses "8s:malformed:300,15s:late:200" (AT:KIND:COUNT
// entries, comma-separated) into bursts sorted by time.
func ParseSchedule(s string) ([]Burst, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Burst
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("entry %q: want AT:KIND:COUNT, like 8s:malformed:300", part)
		}
		at, err := time.ParseDuration(f[0])
		if err != nil {
			return nil, fmt.Errorf("entry %q: time %q is not a duration like 8s", part, f[0])
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("entry %q: count %q is not a whole number", part, f[2])
		}
		b := Burst{At: at, Kind: f[1], Count: n}
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("entry %q: %w", part, err)
		}
		out = append(out, b)
	}
	slices.SortStableFunc(out, func(a, b Burst) int { return cmp.Compare(a.At, b.At) })
	return out, nil
}

// keyBursts are the bursts one can type while the demo runs.
var keyBursts = map[string]Burst{
	"m": {Kind: chaos.Malformed, Count: 300},
	"l": {Kind: chaos.Late, Count: 200},
	"d": {Kind: chaos.Duplicate, Count: 200},
	"f": {Kind: chaos.Future, Count: 100},
	"o": {Kind: chaos.Oversized, Count: 20},
	"s": {Kind: chaos.Skewed, Count: 50},
}

// burstRequest is a burst waiting in the queue, with the view's line that
// acknowledges it.
type burstRequest struct {
	Burst
	ack  *chaosLine
	seed uint64
}

// burstWriter writes queued bursts one at a time: "queued" in the view is
// literally a place in this queue, and "written" is chaos.Run's count.
type burstWriter struct {
	queue chan burstRequest
	write func(ctx context.Context, b Burst, seed uint64) (int64, error)
	view  *view
	seed  atomic.Uint64 // each burst its own seed: no two bursts repeat each other

	mu      sync.Mutex
	stopped bool // nothing queued after this is written
}

// enqueue queues the burst and acknowledges it in the view; a full queue
// or a stopped writer is acknowledged as such rather than blocking the
// keyboard or leaving a burst "queued" for ever.
func (w *burstWriter) enqueue(source string, b Burst) {
	ack := &chaosLine{at: w.view.now(), source: source, burst: b}
	w.mu.Lock()
	if w.stopped {
		ack.refused = "the demo is stopping"
	} else {
		select {
		case w.queue <- burstRequest{Burst: b, ack: ack, seed: w.seed.Add(1)}:
		default:
			ack.refused = "the queue is full"
		}
	}
	w.mu.Unlock()
	w.view.addChaos(ack)
}

// run writes bursts until ctx ends; bursts still queued then are
// acknowledged as not written.
func (w *burstWriter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			w.mu.Lock()
			defer w.mu.Unlock()
			w.stopped = true
			for {
				select {
				case r := <-w.queue:
					w.view.chaosDone(r.ack, 0, errors.New("the demo is stopping"))
				default:
					return nil
				}
			}
		case r := <-w.queue:
			n, err := w.write(ctx, r.Burst, r.seed)
			w.view.chaosDone(r.ack, n, err)
			if err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// schedule queues each burst at its time after start.
func (w *burstWriter) schedule(ctx context.Context, start time.Time, bursts []Burst) error {
	for _, b := range bursts {
		t := time.NewTimer(time.Until(start.Add(b.At)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		w.enqueue("at "+b.At.String(), b)
	}
	return nil
}

// readKeys turns typed lines into bursts until q or the end of input.
// Lines, not raw key presses: no terminal mode to restore if the demo dies,
// and it works the same under tmux, ssh, a pipe or Windows. A read of a
// terminal cannot be interrupted, so this goroutine outlives Run when the
// run ends otherwise; it then only reads.
func readKeys(keys io.Reader, w *burstWriter, quit func()) {
	sc := bufio.NewScanner(keys)
	for sc.Scan() {
		k := strings.TrimSpace(sc.Text())
		if k == "q" {
			quit()
			return
		}
		if b, ok := keyBursts[k]; ok {
			w.enqueue("key "+k, b)
		} else if k != "" {
			w.view.note(fmt.Sprintf("unknown command %q: m, l, d, f, o, s or q", k))
		}
	}
}
