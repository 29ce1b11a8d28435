package window_test

import (
	"fmt"
	"time"

	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/window"
)

// ExampleEngine is the worked timeline of docs/semantics.md: one partition,
// 1-minute windows, 5 s out-of-orderness, 2 min allowed lateness, and
// coalescing ranges of 4 offsets ([0,4), [4,8), [8,12)), so that the
// whiteboard shows a range end. Each record is written when its event
// happens, so the skew cap does not bite here.
func ExampleEngine() {
	cfg := window.DefaultConfig()
	cfg.ReplayRetentionMs = 0 // forget windows at the lateness horizon
	cfg.CoalesceOffsets = 4
	eng, err := window.New(cfg, 0)
	if err != nil {
		panic(err)
	}
	noon := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	hms := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05") }
	var emitted []string
	emit := func(r *aggregate.View) {
		emitted = append(emitted, fmt.Sprintf("    emit [%s] rev %d: events %d, late_accepted %d, duplicates %d",
			r.WindowStart[11:16], r.Revision, r.Events, r.LateAccepted, r.Duplicates))
	}
	show := func() {
		for _, s := range emitted {
			fmt.Println(s)
		}
		emitted = emitted[:0]
	}

	log := []struct {
		id   byte          // event_id (the same id twice is a duplicate)
		time time.Duration // event_time after 12:00
	}{
		{1, 10 * time.Second},
		{2, 50 * time.Second},
		{3, 30 * time.Second},  // out of order, not late
		{4, 66 * time.Second},  // W reaches 12:01: [12:00] fires at once
		{5, 20 * time.Second},  // allowed late: [12:00] changed, waits for the range end
		{1, 10 * time.Second},  // duplicate in a fired window: changed again, same range
		{6, 190 * time.Second}, // W 12:03:05: [12:01] fires; [12:00] past its lateness
		{7, 40 * time.Second},  // too late
		{8, 125 * time.Second}, // offset 8 ends [4,8): [12:00] rev 2; then a new window behind W
		{9, 200 * time.Second}, //
		{9, 200 * time.Second}, // duplicate in an open window: nothing to say yet
	}
	fmt.Println("offset event_time outcome    W after")
	for offset, r := range log {
		ev := event.Event{Type: event.PageView, TimeMs: noon.Add(r.time).UnixMilli(), UserID: []byte("u"), SessionID: []byte("s")}
		ev.ID[15] = r.id
		out := eng.Apply(&ev, window.Source{Offset: int64(offset), TimestampMs: ev.TimeMs}, emit)
		w, _ := eng.Watermark()
		fmt.Printf("%-6d %-10s %-10s %s\n", offset, hms(ev.TimeMs), out, hms(w))
		show()
	}
	fmt.Println("end of input: flush")
	eng.Flush(emit)
	show()
	// Output:
	// offset event_time outcome    W after
	// 0      12:00:10   counted    12:00:05
	// 1      12:00:50   counted    12:00:45
	// 2      12:00:30   counted    12:00:45
	// 3      12:01:06   counted    12:01:01
	//     emit [12:00] rev 1: events 3, late_accepted 0, duplicates 0
	// 4      12:00:20   counted    12:01:01
	// 5      12:00:10   duplicate  12:01:01
	// 6      12:03:10   counted    12:03:05
	//     emit [12:01] rev 1: events 1, late_accepted 0, duplicates 0
	// 7      12:00:40   late_event 12:03:05
	// 8      12:02:05   counted    12:03:05
	//     emit [12:00] rev 2: events 4, late_accepted 1, duplicates 1
	//     emit [12:02] rev 1: events 1, late_accepted 0, duplicates 0
	// 9      12:03:20   counted    12:03:15
	// 10     12:03:20   duplicate  12:03:15
	// end of input: flush
	//     emit [12:03] rev 1: events 2, late_accepted 0, duplicates 1
}
