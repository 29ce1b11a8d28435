package window

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/streamlab/streamlab/internal/event"
)

// snapshotVersion changes whenever the layout below, or the rules that
// produced the state, do. 4: the skew cap and coalescing ranges.
const snapshotVersion = 4

type snapshot struct {
	Version   int    `json:"v"`
	Partition int32  `json:"partition"`
	Config    Config `json:"config"`
	HasMax    bool   `json:"has_max"`
	MaxTime   int64  `json:"max_time"`
	// RangeEnd is where the current coalescing range ends: with the windows'
	// dirty flags it is all a restore mid-range needs to publish the same
	// changes, with the same revisions, as a run that never stopped.
	RangeEnd int64        `json:"range_end"`
	Windows  []snapWindow `json:"windows"`
}

type snapWindow struct {
	Start        int64            `json:"start"`
	Fired        bool             `json:"fired"`
	Dirty        bool             `json:"dirty"`
	Revision     int64            `json:"revision"`
	Events       int64            `json:"events"`
	ByType       []int64          `json:"by_type"`
	Users        []string         `json:"users"`
	Sessions     map[string]uint8 `json:"sessions"`
	IDs          []byte           `json:"ids"` // concatenated 16-byte event ids (base64 in JSON)
	ProductViews map[string]int64 `json:"product_views"`
	Revenue      map[string]int64 `json:"revenue"`
	Refunded     map[string]int64 `json:"refunded"`
	LateAccepted int64            `json:"late_accepted"`
	Duplicates   int64            `json:"duplicates"`
}

// Snapshot serialises the complete state. Restore(Snapshot()) followed by
// the rest of the input gives exactly the output of never stopping.
func (e *Engine) Snapshot() ([]byte, error) {
	s := snapshot{Version: snapshotVersion, Partition: e.partition, Config: e.cfg, HasMax: e.hasMax, MaxTime: e.maxTime, RangeEnd: e.rangeEnd}
	starts := make([]int64, 0, len(e.windows))
	for st := range e.windows {
		starts = append(starts, st)
	}
	slices.Sort(starts)
	for _, st := range starts {
		w := e.windows[st]
		sw := snapWindow{
			Start: w.start, Fired: w.fired, Dirty: w.dirty, Revision: w.revision, Events: w.events,
			ByType: w.byType[:], Sessions: make(map[string]uint8, len(w.sessionBits)), ProductViews: make(map[string]int64, len(w.products)),
			Revenue: w.revenue.asMap(), Refunded: w.refunded.asMap(),
			LateAccepted: w.lateAccepted, Duplicates: w.duplicates,
			Users: make([]string, 0, len(w.users)), IDs: make([]byte, 0, 16*len(w.ids)),
		}
		for k, i := range w.sessionIdx {
			sw.Sessions[k] = w.sessionBits[i]
		}
		for _, p := range w.products {
			sw.ProductViews[p] = w.productViews(p)
		}
		for u := range w.users {
			sw.Users = append(sw.Users, u)
		}
		slices.Sort(sw.Users)
		ids := make([][16]byte, 0, len(w.ids))
		for id := range w.ids {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
		for _, id := range ids {
			sw.IDs = append(sw.IDs, id[:]...)
		}
		s.Windows = append(s.Windows, sw)
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return nil, fmt.Errorf("snapshot partition %d: %w", e.partition, err)
	}
	return b, nil
}

// ErrConfigMismatch means a snapshot was taken with other window settings.
var ErrConfigMismatch = errors.New("window settings differ from the saved state")

// Restore rebuilds an engine from Snapshot's bytes. It refuses a snapshot
// taken with other window settings: continuing it would silently mix two
// definitions of a window.
func Restore(cfg Config, partition int32, b []byte) (*Engine, error) {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("restore partition %d: %w", partition, err)
	}
	if s.Version != snapshotVersion {
		// Continuing a state built under other rules would re-emit revisions
		// with other contents than the ones already written.
		return nil, fmt.Errorf("restore partition %d: %w: the state was written by another version of the engine (snapshot v%d, this one reads v%d); start over with a new --group and --state-topic",
			partition, ErrConfigMismatch, s.Version, snapshotVersion)
	}
	cfg = cfg.withDefaults()
	if s.Config != cfg {
		return nil, fmt.Errorf("restore partition %d: %w: the state was built with %+v, this processor has %+v; run with the same window settings, or start over with a new --group and --state-topic", partition, ErrConfigMismatch, s.Config, cfg)
	}
	if s.Partition != partition {
		return nil, fmt.Errorf("restore partition %d: snapshot belongs to partition %d", partition, s.Partition)
	}
	e, err := New(cfg, partition)
	if err != nil {
		return nil, err
	}
	e.hasMax, e.maxTime, e.rangeEnd = s.HasMax, s.MaxTime, s.RangeEnd
	for _, sw := range s.Windows {
		if len(sw.ByType) != int(event.NumTypes) {
			return nil, fmt.Errorf("restore partition %d: window %d has %d type counters", partition, sw.Start, len(sw.ByType))
		}
		w := newWin(sw.Start)
		w.fired, w.dirty, w.revision, w.events = sw.Fired, sw.Dirty, sw.Revision, sw.Events
		copy(w.byType[:], sw.ByType)
		w.lateAccepted, w.duplicates = sw.LateAccepted, sw.Duplicates
		for _, u := range sw.Users {
			w.users[u] = struct{}{}
		}
		for k, v := range sw.Sessions {
			w.addSession([]byte(k), v)
		}
		if len(sw.IDs)%16 != 0 {
			return nil, fmt.Errorf("restore partition %d: window %d: event ids are %d bytes, not a multiple of 16", partition, sw.Start, len(sw.IDs))
		}
		for i := 0; i < len(sw.IDs); i += 16 {
			w.ids[[16]byte(sw.IDs[i:i+16])] = struct{}{}
		}
		for k, v := range sw.ProductViews {
			w.addProductViews([]byte(k), v)
		}
		if err := fillCurrency(&w.revenue, sw.Revenue); err != nil {
			return nil, fmt.Errorf("restore partition %d: %w", partition, err)
		}
		if err := fillCurrency(&w.refunded, sw.Refunded); err != nil {
			return nil, fmt.Errorf("restore partition %d: %w", partition, err)
		}
		e.windows[w.start] = w
		if w.fired {
			e.retained = append(e.retained, w.start)
			if w.dirty {
				e.changes++
			}
		} else {
			e.pending = append(e.pending, w.start)
		}
	}
	slices.Sort(e.pending)
	slices.Sort(e.retained)
	return e, nil
}

func fillCurrency(dst *moneys, src map[string]int64) error {
	for k, v := range src {
		if len(k) != 3 {
			return fmt.Errorf("bad currency %q", k)
		}
		dst.add([3]byte{k[0], k[1], k[2]}, v)
	}
	return nil
}

func (ms moneys) asMap() map[string]int64 {
	m := make(map[string]int64, len(ms))
	for _, x := range ms {
		if x.amount != 0 {
			m[x.key] = x.amount
		}
	}
	return m
}
