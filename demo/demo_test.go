package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/cli"
	"github.com/streamlab/streamlab/demo"
	"github.com/streamlab/streamlab/internal/window"
)

// testWindow is short so that a window is emitted within a second and
// final within three: what a user sees in half a minute, in seconds.
var testWindow = window.Config{SizeMs: 1000, OutOfOrdernessMs: 200, AllowedLatenessMs: 2000, ReplayRetentionMs: 10_000}

// TestDemoRun drives the demo as a user does: once a window is final (every
// partition's watermark past its end plus the allowed lateness) and the
// alert rules have learned a baseline (the frame stops saying they are
// warming up) it types m (a malformed burst: the rules judge a burst
// against the traffic before it) and reads the frames until they show the burst acknowledged
// as written and the alert it raised; then it types q.
// The run must then drain and exit cleanly, with G1 adding up on the
// output topics, and every line it printed must fit 80 columns.
func TestDemoRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline for a few seconds; covered by the full suite")
	}
	keys, typeKeys := io.Pipe()
	frames, out := io.Pipe()
	type result struct {
		sum *demo.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Duration only guards against a run that never shows what the
		// test waits for: the test ends the run with q.
		s, err := demo.Run(context.Background(), demo.Config{Rate: 400, Window: testWindow, Refresh: 200 * time.Millisecond,
			Keys: keys, Out: out, Duration: 2 * time.Minute, Seed: 3})
		out.Close()
		done <- result{s, err}
	}()
	final := regexp.MustCompile(`^\d\d:\d\d:\d\d\s+final\s+3/3\s+\d+`)
	// The rules judge a burst against the traffic before it: type only
	// once the frame says they have a baseline (a condition the dispatcher
	// reports through its verdicts), or the burst may come too early to be
	// judged at all.
	judging := regexp.MustCompile(`^ALERTS\b`)
	sawFinal, sawJudging := false, false
	typed := false
	waits := map[string]*regexp.Regexp{
		"the burst acknowledged":   regexp.MustCompile(`key m: burst of 300 malformed queued -> written 300$`),
		"a final window":           final,
		"the burst's alert firing": regexp.MustCompile(`firing\s+dlq_spike/malformed`),
	}
	var all bytes.Buffer
	sc := bufio.NewScanner(frames)
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		if len(line) > 80 {
			t.Errorf("line over 80 columns: %q", line)
		}
		sawFinal = sawFinal || final.MatchString(line)
		sawJudging = sawJudging || (judging.MatchString(line) && !strings.Contains(line, "warming up"))
		if !typed && sawFinal && sawJudging {
			typed = true
			if _, err := io.WriteString(typeKeys, "m\n"); err != nil {
				t.Fatal(err)
			}
		}
		for what, re := range waits {
			if re.MatchString(line) {
				delete(waits, what)
				if len(waits) == 0 {
					typeKeys.Write([]byte("q\n"))
				}
			}
		}
	}
	res := <-done
	if len(waits) > 0 {
		t.Fatalf("the run ended without showing %v\n%s", waits, tailLines(all.String(), 60))
	}
	if res.err != nil {
		t.Fatalf("run: %v\n%s", res.err, tailLines(all.String(), 60))
	}
	s := res.sum
	if !s.G1Holds() || s.Produced == 0 {
		t.Errorf("G1: produced %d, counted %d + duplicates %d + dead letters %d", s.Produced, s.Counted, s.Duplicates, s.DeadLetters)
	}
	if s.DeadLettersByReason["invalid_json"] == 0 || s.Windows < 3 {
		t.Errorf("summary %+v: want invalid_json dead letters and several windows", s)
	}
	if !strings.Contains(all.String(), "summary: G1 holds after the final flush") {
		t.Errorf("no G1 verdict in the summary:\n%s", tailLines(all.String(), 30))
	}
}

// TestDemoG1AddsUpAfterFinalFlush runs the command with bursts of every
// kind that G1 counts apart (duplicates, malformed and late dead letters)
// and checks the summary's equation with the numbers it printed: produced
// (the raw topic's end offsets) = counted + duplicates (the latest revision
// of every window and partition) + dead letters (distinct, on the DLQ),
// exactly, after the processor's final flush; and that the processor's own
// counters, an independent count, agree.
func TestDemoG1AddsUpAfterFinalFlush(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline for a few seconds; covered by the full suite")
	}
	var out, errb bytes.Buffer
	code := cli.Main([]string{"demo", "--duration", "3s", "--refresh", "1s", "--rate", "300", "--seed", "5",
		"--window", "1s", "--out-of-orderness", "200ms", "--allowed-lateness", "2s", "--replay-retention", "10s",
		"--chaos", "0s:duplicate:200,500ms:malformed:300,1500ms:late:200"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errb.String(), tailLines(out.String(), 40))
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	m := regexp.MustCompile(`G1 holds after the final flush: produced (\d+) = counted (\d+) \+ duplicates (\d+) \+ dead letters (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no G1 verdict:\n%s", tailLines(out.String(), 30))
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	produced, counted, dups, dead := n(m[1]), n(m[2]), n(m[3]), n(m[4])
	if produced != counted+dups+dead {
		t.Errorf("printed G1 does not add up: %d != %d + %d + %d", produced, counted, dups, dead)
	}
	if dups < 199 || dead < 300 || counted == 0 {
		t.Errorf("the bursts are missing: counted %d, duplicates %d, dead letters %d", counted, dups, dead)
	}
	c := regexp.MustCompile(`the processor's outcome counters agree: counted (\d+), duplicates (\d+), dead letters (\d+)`).FindStringSubmatch(text)
	if c == nil || n(c[1]) != counted || n(c[2]) != dups || n(c[3]) != dead {
		t.Errorf("processor counters %v do not match the outputs (%d, %d, %d)", c, counted, dups, dead)
	}
	if w := regexp.MustCompile(`writers acknowledged (\d+)`).FindStringSubmatch(text); w == nil || n(w[1]) != produced {
		t.Errorf("writers acknowledged %v, the raw topic holds %d", w, produced)
	}
}

// TestDemoFlagErrors: out-of-range flags are errors that name the flag,
// never replaced by defaults, and nothing runs.
func TestDemoFlagErrors(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--rate 0", "--rate"},
		{"--partitions 0", "--partitions"},
		{"--refresh 0s", "--refresh"},
		{"--duration -1s", "--duration"},
		{"--chaos 1s:bogus:3", "--chaos"},
		{"--window 0s", "--window"},
	} {
		var out, errb bytes.Buffer
		code := cli.Main(append([]string{"demo"}, strings.Fields(c.args)...), strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q: want exit 2 and an error naming %s", c.args, code, errb.String(), c.want)
		}
		if out.Len() > 0 {
			t.Errorf("%s: printed a frame: %q", c.args, out.String())
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
