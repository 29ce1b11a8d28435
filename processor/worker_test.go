package processor

import (
	"strings"
	"testing"

	"github.com/streamlab/streamlab/internal/aggregate"
)

// TestWorkerRefusesAnOldRevision: the worker publishes a window's revisions
// only in increasing order from the restored state's on; a revision it
// already emitted (or restored) stops it instead of reaching the topic with
// another content.
func TestWorkerRefusesAnOldRevision(t *testing.T) {
	w := &worker{cur: &batch{}, revisions: map[string]int64{"2026-01-01T00:00:00.000Z": 2}}
	view := func(start string, rev int64) *aggregate.View {
		return &aggregate.View{SchemaVersion: aggregate.SchemaVersion, WindowStart: start, WindowEnd: start, Revision: rev}
	}
	w.emit(view("2026-01-01T00:00:00.000Z", 3))
	w.emit(view("2026-01-01T00:01:00.000Z", 1))
	if w.emitErr != nil || len(w.cur.agg) != 2 {
		t.Fatalf("new revisions refused: %v, %d records", w.emitErr, len(w.cur.agg))
	}
	w.emit(view("2026-01-01T00:00:00.000Z", 3))
	if w.emitErr == nil || !strings.Contains(w.emitErr.Error(), "refusing to emit window 2026-01-01T00:00:00.000Z revision 3") || len(w.cur.agg) != 2 {
		t.Fatalf("a repeated revision: %v, %d records", w.emitErr, len(w.cur.agg))
	}
}
