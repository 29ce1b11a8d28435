// Package offline runs the pipeline on a file (contract §9): every line is one
// raw message value of partition 0, its 0-based index is its offset, and one
// instant, Config.Now, stands in for every record timestamp, so a run is a
// pure function of its input and that instant.
package offline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/window"
)

// Config of an offline run.
type Config struct {
	Window window.Config // window settings; no default, see window.DefaultConfig
	Limits event.Limits  // validation limits; no default, see event.DefaultLimits
	// Now is the record timestamp of every line: future_event and the skew
	// cap compare event times with it, and dead letters carry it as
	// failed_at. Default (zero): the wall clock when Run starts.
	Now time.Time
}

// Summary counts what a run did, as the pipeline's observer reported it.
// Lines = counted + duplicates + dead letters.
type Summary struct {
	Lines       int64
	Counted     int64
	Duplicates  int64
	DeadLetters map[event.Reason]int64
	Emissions   int64 // aggregate records written: Windows first emissions + Upserts
	Windows     int64 // distinct windows emitted: each has exactly one revision 1
	Upserts     int64 // emissions with a revision above 1
	Elapsed     time.Duration
}

// observer fills a Summary from what the pipeline reports.
type observer struct{ s *Summary }

func (ob observer) OnMessage(_ *pipeline.Message, o pipeline.Outcome) {
	s := ob.s
	s.Lines++
	switch o {
	case pipeline.Counted:
		s.Counted++
	case pipeline.Duplicate:
		s.Duplicates++
	default:
		s.DeadLetters[event.Reason(o)]++
	}
}

func (ob observer) OnEmit(_ int32, k pipeline.EmitKind) {
	s := ob.s
	s.Emissions++
	if k == pipeline.FirstEmission {
		s.Windows++
	} else {
		s.Upserts++
	}
}

func (observer) OnFlush(int32, int) {}

// DeadLettered is the total number of dead letters.
func (s *Summary) DeadLettered() int64 {
	var n int64
	for _, v := range s.DeadLetters {
		n += v
	}
	return n
}

// Run processes in to the end. It returns an error only for I/O failures or
// cancellation; bad input lines are dead letters, not errors.
func Run(ctx context.Context, cfg Config, in io.Reader, aggOut, dlqOut io.Writer) (*Summary, error) {
	start := time.Now()
	now := cfg.Now
	if now.IsZero() {
		now = start
	}
	now = now.UTC()
	part, err := pipeline.NewPartition(cfg.Window, cfg.Limits, 0)
	if err != nil {
		return nil, err
	}
	part.Now = func() time.Time { return now }
	sum := &Summary{DeadLetters: make(map[event.Reason]int64)}
	part.Observer = observer{sum}
	aw := bufio.NewWriterSize(aggOut, 256<<10)
	dw := aw
	if dlqOut != aggOut {
		dw = bufio.NewWriterSize(dlqOut, 256<<10)
	}
	var werr error
	var buf []byte // reused for every aggregate line
	emit := func(v *aggregate.View) {
		if werr != nil {
			return
		}
		buf = append(v.AppendJSON(buf[:0]), '\n')
		if _, err := aw.Write(buf); err != nil {
			werr = fmt.Errorf("write aggregates: %w", err)
		}
	}
	var dbuf []byte // reused for every dead-letter line
	dead := func(l *deadletter.Letter) {
		if werr != nil {
			return
		}
		dbuf = append(l.AppendJSONLine(dbuf[:0]), '\n')
		if _, err := dw.Write(dbuf); err != nil {
			werr = fmt.Errorf("write dead letters: %w", err)
		}
		if cap(dbuf) > 4<<20 {
			dbuf = nil // do not hold on to the base64 of one huge line
		}
	}
	lr := newLineReader(in)
	msg := pipeline.Message{Partition: 0, RefMs: now.UnixMilli()}
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("read input line %d: %w", sum.Lines+1, err)
		}
		if sum.Lines&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
		}
		msg.Offset, msg.Value = sum.Lines, line
		part.Process(&msg, emit, dead)
		if werr != nil {
			return sum, werr
		}
	}
	part.Flush(emit)
	if werr != nil {
		return sum, werr
	}
	if err := aw.Flush(); err != nil {
		return sum, fmt.Errorf("write aggregates: %w", err)
	}
	if dw != aw {
		if err := dw.Flush(); err != nil {
			return sum, fmt.Errorf("write dead letters: %w", err)
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// lineReader splits on '\n' with no line-length limit (bufio.Scanner stops
// at 64 KiB by default, and an oversized event must still become a dead
// letter rather than an error).
type lineReader struct {
	r   *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next line without its '\n'. The slice is valid until the
// next call. A final line without '\n' is still a line; an empty input has
// none.
func (l *lineReader) next() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		l.buf = append(l.buf[:0], line...)
		for {
			line, err = l.r.ReadSlice('\n')
			l.buf = append(l.buf, line...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == nil {
				return l.buf[:len(l.buf)-1], nil
			}
			if err == io.EOF {
				return l.buf, nil
			}
			return nil, err
		}
	}
	if err == io.EOF && len(line) > 0 {
		return line, nil
	}
	return nil, err
}
