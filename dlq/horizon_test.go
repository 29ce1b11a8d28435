package dlq

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/pipeline"
	"github.com/streamlab/streamlab/internal/window"
)

// checkpointAt is the state-topic record a processor of group g leaves for
// partition p after counting one event at eventTime: its watermark is
// eventTime − out-of-orderness.
func checkpointAt(t *testing.T, g string, p int32, eventTime time.Time) *kafka.Message {
	t.Helper()
	part, err := pipeline.NewPartition(window.DefaultConfig(), event.DefaultLimits(), p)
	if err != nil {
		t.Fatal(err)
	}
	v := fmt.Sprintf(`{"schema_version":1,"event_id":"7f18d564-0ce3-4dea-873b-c587e9b0672%d","event_type":"page_view","event_time":%q,"user_id":"u1","session_id":"0608ddcc-2a39-42c8-8655-d7f23d7a63be","page":"/","device":"mobile","country":"US"}`,
		p, event.FormatMillis(eventTime.UnixMilli()))
	m := pipeline.Message{Topic: raw, Partition: p, Offset: 0, Value: []byte(v), RefMs: eventTime.UnixMilli()}
	if o := part.Process(&m, func(*aggregate.View) {}, func(l *deadletter.Letter) { t.Fatalf("dead letter: %s", l.Error) }); o != pipeline.Counted {
		t.Fatalf("outcome %s", o)
	}
	inc := checkpoint.Incarnation{Epoch: 1, Generation: 1}
	b := checkpoint.EncodeCheckpoint(nil, &checkpoint.Checkpoint{Incarnation: inc, Seq: 1, NextOffset: 1, WrittenAt: t0, Engine: part.Engine.AppendMeta(nil)})
	key := checkpoint.RecordKey{Group: g, Topic: raw, Partition: p, Incarnation: inc, Kind: checkpoint.KindCheckpoint}
	return &kafka.Message{Key: []byte(key.String()), Value: b}
}

// testHorizon: partition 0's watermark is 11:00 − 5 s, partition 1 has
// another group's checkpoint, partition 2 none.
func testHorizon(t *testing.T) *Horizon {
	h := &Horizon{Group: "g", Partitions: map[int32]*PartitionState{}}
	for p, m := range []*kafka.Message{checkpointAt(t, "g", 0, t0.Add(time.Hour)), checkpointAt(t, "other", 1, t0), nil} {
		ps := &PartitionState{}
		h.Partitions[int32(p)] = ps
		h.restore(ps, m, raw, int32(p))
	}
	return h
}

// TestHorizonFromCheckpoints reads the processor's real checkpoint format:
// the replay horizon of a window is its end + allowed lateness (2m) +
// replay retention (15m) behind the watermark.
func TestHorizonFromCheckpoints(t *testing.T) {
	h := testHorizon(t)
	if h.Config == nil || *h.Config != window.DefaultConfig() {
		t.Fatalf("window settings from the checkpoint: %+v", h.Config)
	}
	if !strings.Contains(h.Partitions[1].Unknown, `"other|events.raw.v1|1"`) || h.Partitions[2].Unknown != "no checkpoint yet" {
		t.Fatalf("unknown partitions: %q, %q", h.Partitions[1].Unknown, h.Partitions[2].Unknown)
	}
	wm := t0.Add(time.Hour - 5*time.Second)
	// The newest window a replay can no longer reach ends at wm − 17m.
	edge := wm.Add(-17 * time.Minute).Truncate(time.Minute)
	letter := func(p int32, et time.Time) *deadletter.Letter {
		return &deadletter.Letter{Partition: p, EventTimeMs: et.UnixMilli(), HasEventTime: true}
	}
	for _, tc := range []struct {
		l    *deadletter.Letter
		want Verdict
	}{
		{letter(0, edge.Add(-time.Minute)), Past},      // window [edge−1m, edge)
		{letter(0, edge.Add(-time.Millisecond)), Past}, // same window
		{letter(0, edge), Within},                      // window [edge, edge+1m) ends after the horizon
		{letter(0, wm), Within},
		{letter(1, t0.Add(-5*time.Hour)), Unknown},
		{letter(2, t0), Unknown},
		{&deadletter.Letter{Partition: 0}, NoEventTime},
	} {
		if got := h.Classify(tc.l); got != tc.want {
			t.Errorf("partition %d event time %s: %s, want %s", tc.l.Partition, event.FormatMillis(tc.l.EventTimeMs), got, tc.want)
		}
	}
}

func TestDryRunReport(t *testing.T) {
	h := testHorizon(t)
	late := func(p int32, off int64, et time.Time) Entry {
		e := mk(p, off, event.LateEvent, 0, 0, false, []byte("{}"))
		e.EventTimeMs = et.UnixMilli()
		return e
	}
	es := []Entry{
		late(0, 1, t0.Add(-10*time.Minute)),                   // past
		late(0, 2, t0.Add(-10*time.Minute+time.Second)),       // past, same window
		late(0, 3, t0.Add(50*time.Minute)),                    // within
		late(1, 4, t0),                                        // unknown
		mk(2, 5, event.InvalidJSON, 0, 0, false, []byte("x")), // no event time
		mk(2, 6, event.InvalidJSON, 0, 0, true, []byte("x")),  // already replayed
	}
	rep := &ReplayReport{DryRun: true, RawTopic: raw, Matched: 9, Plan: MakePlan(es, "dlq", 3, false), Horizon: h}
	var b bytes.Buffer
	if err := rep.Render(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "dryrun.txt", b.Bytes())
	if past, unknown := rep.PastHorizon(); past != 2 || unknown != 1 {
		t.Fatalf("past %d unknown %d", past, unknown)
	}
}

func TestFollowReport(t *testing.T) {
	es := entries()
	rep := &ReplayReport{RawTopic: raw, Matched: 5, Plan: MakePlan(es, "dlq", 3, false), Written: 3, Horizon: &Horizon{Group: "g"},
		Followed: &FollowReport{Group: "g", Waited: 4500 * time.Millisecond, Healed: 1, Pending: 1,
			Back:   map[event.Reason]int{event.LateEvent: 1},
			Behind: []string{"partition 1: committed up to 40, replayed up to 41"}}}
	var b bytes.Buffer
	if err := rep.Render(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "replay.txt", b.Bytes())
}
