package processor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamlab/streamlab/internal/event"
)

// partStats is what a partition worker tells the reporter: the worker
// writes it after each batch and checkpoint, the reporter reads it on its
// timer, so the gauges move (watermark lag and checkpoint age grow) even
// when no batch arrives.
type partStats struct {
	mu sync.Mutex
	st partState
}

type partState struct {
	watermark int64
	hasWM     bool
	next      int64 // next offset to process; -1 before the first message
	end       int64 // the partition's end offset as last seen by the reader; -1 unknown
	open      int   // windows held
	lastCP    time.Time
	committed int64 // the offset the last saved checkpoint covers (and committed to the group)
}

func newPartStats() *partStats { return &partStats{st: partState{next: -1, end: -1}} }

func (s *partStats) update(f func(*partState)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

func (s *partStats) snapshot() partState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// lag is the number of messages between the worker's position and the end
// of the log it last saw; -1 when unknown.
func (s partState) lag() int64 {
	if s.end < 0 {
		return -1
	}
	if s.next < 0 {
		return s.end // nothing processed yet: the whole log is ahead (from offset 0 at most)
	}
	return max(0, s.end-s.next)
}

// register makes a partition visible to the reporter.
func (p *Processor) register(partition int32, s *partStats) {
	p.mu.Lock()
	p.parts[partition] = s
	p.mu.Unlock()
	p.refresh(partition, s.snapshot(), p.cfg.Now())
}

// forget removes a partition and its series when it leaves this replica.
func (p *Processor) forget(partition int32, s *partStats) {
	p.mu.Lock()
	if p.parts[partition] == s {
		delete(p.parts, partition)
	}
	p.mu.Unlock()
	label := strconv.Itoa(int(partition))
	for _, g := range p.cfg.Metrics.partitionGauges() {
		g.DeleteLabelValues(label)
	}
}

func (p *Processor) snapshotParts() map[int32]partState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]partState, len(p.parts))
	for id, s := range p.parts {
		out[id] = s.snapshot()
	}
	return out
}

// refresh sets a partition's gauges from its stats.
func (p *Processor) refresh(partition int32, s partState, now time.Time) {
	m := p.cfg.Metrics
	label := strconv.Itoa(int(partition))
	if s.hasWM {
		m.Watermark.WithLabelValues(label).Set(float64(s.watermark) / 1000)
		m.WatermarkLag.WithLabelValues(label).Set(float64(now.UnixMilli()-s.watermark) / 1000)
	}
	if lag := s.lag(); lag >= 0 {
		m.ConsumerLag.WithLabelValues(label).Set(float64(lag))
	}
	m.OpenWindows.WithLabelValues(label).Set(float64(s.open))
	if !s.lastCP.IsZero() {
		m.CheckpointAge.WithLabelValues(label).Set(now.Sub(s.lastCP).Seconds())
	}
}

// report refreshes the gauges every GaugeInterval and logs a progress line
// every ProgressInterval until ctx ends.
func (p *Processor) report(ctx context.Context) {
	gauges := time.NewTicker(p.cfg.GaugeInterval)
	defer gauges.Stop()
	progress := time.NewTicker(p.cfg.ProgressInterval)
	defer progress.Stop()
	var lastTotal int64
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gauges.C:
			now := p.cfg.Now()
			for id, s := range p.snapshotParts() {
				p.refresh(id, s, now)
			}
		case <-progress.C:
			total := p.processed.Load()
			elapsed := time.Since(lastAt)
			p.log.Info("progress", "messages_per_s", int64(float64(total-lastTotal)/elapsed.Seconds()),
				"partitions", progressLine(p.snapshotParts(), p.cfg.Now()))
			lastTotal, lastAt = total, time.Now()
		}
	}
}

// progressLine describes each partition in one short string:
// "0: lag 12, watermark 2026-01-01T00:10:00.000Z (4s behind), checkpoint 2s ago; 1: ...".
func progressLine(parts map[int32]partState, now time.Time) string {
	if len(parts) == 0 {
		return "none assigned"
	}
	ids := make([]int32, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for i, id := range ids {
		s := parts[id]
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d: lag ", id)
		if lag := s.lag(); lag >= 0 {
			b.WriteString(strconv.FormatInt(lag, 10))
		} else {
			b.WriteString("unknown")
		}
		if s.hasWM {
			fmt.Fprintf(&b, ", watermark %s (%s behind)", event.FormatMillis(s.watermark), now.Sub(time.UnixMilli(s.watermark)).Round(time.Second))
		} else {
			b.WriteString(", no watermark yet")
		}
		if !s.lastCP.IsZero() {
			fmt.Fprintf(&b, ", checkpoint %s ago", now.Sub(s.lastCP).Round(time.Second))
		}
	}
	return b.String()
}
