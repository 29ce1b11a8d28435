package demo

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/streamlab/streamlab/dispatcher/incident"
	"github.com/streamlab/streamlab/internal/aggregate"
	"github.com/streamlab/streamlab/internal/deadletter"
	"github.com/streamlab/streamlab/internal/event"
	"github.com/streamlab/streamlab/internal/topic"
	"github.com/streamlab/streamlab/internal/window"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func rfc(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// fixedView is a view in a known state: six windows in every state, one
// more than fits, every currency the generator uses, every dead-letter
// reason, chaos in every state and more alerts than fit.
func fixedView() *view {
	w := window.Config{SizeMs: 10_000, OutOfOrdernessMs: 2_000, AllowedLatenessMs: 20_000, ReplayRetentionMs: 120_000}
	v := newView(w, 3, topic.Defaults(), true, at(-65*time.Second))
	v.now = func() time.Time { return at(35 * time.Second) }
	rec := func(start time.Duration, p int32, rev, events int64, revenue map[string]int64) {
		v.aggregate(&aggregate.Record{WindowStart: rfc(at(start)), WindowEnd: rfc(at(start + 10*time.Second)),
			SourcePartition: p, Revision: rev, Events: events, Users: events / 2, Orders: int64(len(revenue)),
			RevenueMinor: revenue, LateAccepted: rev - 1, Duplicates: events / 100})
	}
	for _, start := range []time.Duration{-20 * time.Second, -10 * time.Second, 0, 10 * time.Second, 20 * time.Second} {
		for p := range int32(3) {
			rec(start, p, 1, 1300+int64(p), map[string]int64{"EUR": 2999})
			rec(start, p, 2, 1333+int64(p), map[string]int64{"EUR": 5998})
		}
	}
	rec(20*time.Second, 0, 3, 1400, map[string]int64{"EUR": 183481, "USD": 99999, "GBP": 11498, "JPY": 12340,
		"CHF": 23699, "SEK": 120000, "PLN": 4300, "CAD": 5, "AUD": 49197})
	rec(30*time.Second, 0, 1, 1290, nil)
	rec(30*time.Second, 2, 1, 1310, nil)
	for i, r := range event.Reasons() {
		for n := range 10 * (i + 1) {
			v.deadLetter(&deadletter.Letter{Reason: r, Topic: "events.raw.v1", Partition: 1, Offset: int64(1000*i + n)})
		}
	}
	// A second delivery of one dead letter is not counted twice.
	v.deadLetter(&deadletter.Letter{Reason: event.InvalidJSON, Topic: "events.raw.v1", Partition: 1, Offset: 1000})
	bw := &burstWriter{queue: make(chan burstRequest, 2), view: v}
	bw.enqueue("at 6s", Burst{Kind: "malformed", Count: 300})
	bw.enqueue("key l", Burst{Kind: "late", Count: 200})
	bw.enqueue("key o", Burst{Kind: "oversized", Count: 20}) // the queue holds 2
	first := <-bw.queue
	v.chaosDone(first.ack, 300, nil)
	for i, rule := range []string{"dlq_spike", "dlq_spike", "late_surge", "revenue_drop", "stall"} {
		v.alert(&incident.Alert{Rule: rule, Dimension: fmt.Sprint("dim", i), Status: incident.Firing,
			Title:   "Alert number " + fmt.Sprint(i) + ", whose title is long enough to need clipping at eighty columns",
			FiredAt: rfc(at(time.Duration(30+i) * time.Second))})
	}
	v.setSample(sample{at: at(34 * time.Second), outcomes: map[string]int64{"counted": 24000}})
	v.setSample(sample{at: at(35 * time.Second), produced: 26000,
		outcomes: map[string]int64{"counted": 24400, "duplicate": 300, "invalid_json": 500, "late_event": 780}, verdicts: 12,
		watermarks: map[int32]int64{0: at(41500 * time.Millisecond).UnixMilli(), 1: at(39250 * time.Millisecond).UnixMilli(), 2: at(40 * time.Second).UnixMilli()}})
	return v
}

// TestFrameGolden renders a frame at a fixed state: the whole layout is the
// golden file, and no line may be wider than 80 columns.
func TestFrameGolden(t *testing.T) {
	v := fixedView()
	f := v.frame(at(35 * time.Second))
	got := f.render()
	assertFits(t, got)
	golden := filepath.Join("testdata", "frame.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./demo -run TestFrameGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("frame differs from %s (-update rewrites it after a deliberate change)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestFrameStates pins how the slowest partition's watermark (12:00:39.250
// in fixedView) decides each window's state, and the G1 line.
func TestFrameStates(t *testing.T) {
	v := fixedView()
	f := v.frame(at(35 * time.Second))
	got := map[string]string{}
	for _, r := range f.Rows {
		got[time.UnixMilli(r.StartMs).UTC().Format("15:04:05")] = fmt.Sprintf("%s %d/3", r.State, r.Parts)
	}
	want := map[string]string{
		"11:59:50": "final 3/3",   // end 12:00:00 + 20 s <= W
		"12:00:00": "final 3/3",   // end 12:00:10 + 20 s <= W
		"12:00:10": "emitted 3/3", // end 12:00:20 <= W < end + 20 s
		"12:00:20": "emitted 3/3",
		"12:00:30": "open 2/3", // p0 and p2 passed 12:00:40, p1 did not
		"12:00:40": "open 0/3", // p0's watermark is in it: counting, nothing published
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states:\n got %v\nwant %v", got, want)
	}
	if f.Revenue == nil || f.Revenue.StartMs != at(20*time.Second).UnixMilli() {
		t.Errorf("revenue shows %+v, want the newest window every partition reported (12:00:20)", f.Revenue)
	}
	if g := f.G1; g.Produced-g.Counted-g.Duplicates-g.DeadLetters != 20 || g.DeadLetters != 1280 {
		t.Errorf("G1 %+v: want 20 in flight and 1280 dead letters", g)
	}
	v.setFlushed()
	f = v.frame(at(36 * time.Second))
	if r := f.Rows[len(f.Rows)-2]; r.State != stateFlushed {
		t.Errorf("after the processor's shutdown flush an open window it published is %q, want %q", r.State, stateFlushed)
	}
	if r := f.Rows[len(f.Rows)-1]; r.State != stateOpen {
		t.Errorf("an open window nothing was published for is %q, want %q", r.State, stateOpen)
	}
}

// TestFrameFitsUnderStress renders extremes: 12 partitions, sub-second
// windows (a wider time column), int64-sized counts, long and hostile
// strings from the topics (an escape sequence, wide runes).
func TestFrameFitsUnderStress(t *testing.T) {
	w := window.Config{SizeMs: 1500, OutOfOrdernessMs: 250, AllowedLatenessMs: 3000}
	v := newView(w, 12, topic.Defaults(), true, at(-time.Hour))
	wms := map[int32]int64{}
	for p := range int32(12) {
		wms[p] = at(time.Minute).UnixMilli()
		rev := map[string]int64{}
		for _, c := range []string{"EUR", "USD", "JPY", "BHD", "CLF", "XAU", "QQQ"} {
			rev[c] = 1<<63 - 1
		}
		v.aggregate(&aggregate.Record{WindowStart: rfc(at(30 * time.Second)), SourcePartition: p, Revision: 1 << 62,
			Events: 1<<63 - 1, Users: 1<<63 - 1, Orders: 1<<63 - 1, RevenueMinor: rev, LateAccepted: 1<<63 - 1, Duplicates: 1<<63 - 1})
	}
	long := strings.Repeat("reason_", 30)
	v.deadLetter(&deadletter.Letter{Reason: event.Reason(long), Offset: 1})
	v.deadLetter(&deadletter.Letter{Reason: "\x1b[2Jclear", Offset: 2})
	v.alert(&incident.Alert{Rule: strings.Repeat("r", 90), Status: "resolved", Title: "漢字タイトル\x1b[31m" + long, FiredAt: "not a time"})
	bw := &burstWriter{queue: make(chan burstRequest, 1), view: v}
	bw.enqueue("key m", Burst{Kind: "malformed", Count: 1 << 62})
	v.chaosDone((<-bw.queue).ack, 1<<62, errors.New(long))
	v.note(`unknown command "` + long + `"`)
	v.setSample(sample{at: at(time.Minute), produced: 1<<63 - 1, watermarks: wms,
		outcomes: map[string]int64{"counted": 1 << 61, "duplicate": 1 << 61, "invalid_json": 1 << 61}})
	got := v.frame(at(time.Minute)).render()
	assertFits(t, got)
	if strings.Contains(got, "\x1b") {
		t.Error("an escape sequence from a topic reached the frame")
	}
	v.setSample(sample{at: at(61 * time.Second), err: errors.New(long)})
	assertFits(t, v.frame(at(61*time.Second)).render())
}

// assertFits checks every line against 80 columns. Bytes bound columns: no
// rune is wider than 2 columns and every non-ASCII rune takes 2 bytes or
// more, so a line of at most 80 bytes fits 80 columns in any terminal.
func assertFits(t *testing.T, frame string) {
	t.Helper()
	if !strings.HasSuffix(frame, "\n") {
		t.Error("frame does not end in a newline")
	}
	for i, l := range strings.Split(strings.TrimSuffix(frame, "\n"), "\n") {
		if len(l) > 80 {
			t.Errorf("line %d is %d bytes, over 80 columns: %q", i+1, len(l), l)
		}
		if strings.ContainsFunc(l, unicode.IsControl) {
			t.Errorf("line %d holds a control character: %q", i+1, l)
		}
	}
}

// TestFrameSaysWhenTheRulesCannotJudgeYet: before the dead-letter spike
// rule has a baseline, "ALERTS none" would read as "all is well"; the frame
// says the rules are warming up instead, and stops once they give verdicts.
func TestFrameSaysWhenTheRulesCannotJudgeYet(t *testing.T) {
	w := window.Config{SizeMs: 10_000, OutOfOrdernessMs: 2_000, AllowedLatenessMs: 20_000}
	v := newView(w, 3, topic.Defaults(), false, at(0))
	v.setSample(sample{at: at(time.Second)})
	if got := strings.Join(v.frame(at(time.Second)).alerts(), "\n"); got != "ALERTS  none  (rules warming up: no verdict yet)" {
		t.Errorf("before any verdict: %q", got)
	}
	v.setSample(sample{at: at(2 * time.Second), verdicts: 1})
	if got := strings.Join(v.frame(at(2*time.Second)).alerts(), "\n"); got != "ALERTS  none" {
		t.Errorf("after a verdict: %q", got)
	}
}
