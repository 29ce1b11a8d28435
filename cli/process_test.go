package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func validLine(id string, ts time.Time) string {
	return `{"schema_version":1,"event_id":"` + id + `","event_type":"page_view","event_time":"` + ts.UTC().Format(time.RFC3339Nano) + `","user_id":"u","session_id":"s"}`
}

func TestProcessCommand(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Add(-time.Hour)
	huge := `{"schema_version":1,"pad":"` + strings.Repeat("x", 100<<10) + `"}`
	lines := []string{
		validLine("123e4567-e89b-12d3-a456-426614174000", now),
		"",    // an empty line is a message too
		huge,  // 100 KiB: must not break the reader
		"[1]", // not an object
		validLine("123e4567-e89b-12d3-a456-426614174000", now) + "\r", // CRLF: \r is JSON whitespace
		validLine("123e4567-e89b-12d3-a456-426614174001", now.Add(5*time.Minute)),
		validLine("123e4567-e89b-12d3-a456-426614174002", now.Add(-10*time.Minute)), // too late
		"\xff\xfe",
	}
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")), 0o644); err != nil { // no final newline
		t.Fatal(err)
	}
	aggs, dlq := filepath.Join(dir, "aggs.jsonl"), filepath.Join(dir, "dlq.jsonl")
	code, _, stderr := run(t, "", "process", "--input", in, "--aggregates-out", aggs, "--dlq-out", dlq)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "lines 8  counted 2  duplicates 1  dead letters 5") {
		t.Fatalf("summary: %s", stderr)
	}
	var reasons []string
	for _, l := range readLines(t, dlq) {
		var d struct {
			Reason       string  `json:"reason"`
			Error        string  `json:"error"`
			SourceOffset int64   `json:"source_offset"`
			EventTime    *string `json:"event_time"`
			ValueB64     string  `json:"value_b64"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		v, err := base64.StdEncoding.DecodeString(d.ValueB64)
		if err != nil || string(v) != lines[d.SourceOffset] {
			t.Fatalf("dead letter at %d does not carry the original bytes", d.SourceOffset)
		}
		if d.Error == "" {
			t.Fatalf("dead letter at %d has no error", d.SourceOffset)
		}
		if (d.Reason == "late_event") != (d.EventTime != nil) {
			t.Fatalf("event_time presence wrong for %s", d.Reason)
		}
		reasons = append(reasons, d.Reason+"@"+string(rune('0'+d.SourceOffset)))
	}
	if got := strings.Join(reasons, ","); got != "invalid_json@1,oversized@2,invalid_json@3,late_event@6,invalid_json@7" {
		t.Fatalf("dead letters %s", got)
	}
	recs := readLines(t, aggs)
	// Line 5 moves the watermark past the first window (1 event, 1 duplicate);
	// end of input flushes the second.
	if len(recs) != 2 || !strings.Contains(recs[0], `"events":1,`) || !strings.Contains(recs[0], `"duplicates":1}`) ||
		!strings.Contains(recs[1], `"revision":1,`) {
		t.Fatalf("aggregates:\n%s", strings.Join(recs, "\n"))
	}
}

func TestProcessStdinStdout(t *testing.T) {
	in := validLine("123e4567-e89b-12d3-a456-426614174000", time.Now()) + "\n"
	code, out, stderr := run(t, in, "process", "-q")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	if !strings.Contains(out, `"events":1`) {
		t.Fatalf("stdout %q", out)
	}
	if code, out, _ := run(t, "", "process", "-q"); code != 0 || out != "" {
		t.Fatalf("empty input: exit %d out %q", code, out)
	}
}

func TestBadConfigFailsFast(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"process", "--window", "0s"}, nil, "--window"},
		{[]string{"process", "--window", "1500us"}, nil, "whole number of milliseconds"},
		{[]string{"process", "--allowed-lateness", "-1s"}, nil, "--allowed-lateness"},
		{[]string{"process", "--max-event-bytes", "0"}, nil, "--max-event-bytes"},
		{[]string{"process", "--input", "/nonexistent/file"}, nil, "open input"},
		{[]string{"process"}, map[string]string{"STREAMLAB_WINDOW": "soon"}, "STREAMLAB_WINDOW"},
		{[]string{"gen", "--malformed-ratio", "2"}, nil, "malformed"},
		{[]string{"processor", "--brokers", "nope"}, nil, "host:port"},
		{[]string{"process"}, map[string]string{"STREAMLAB_WINDOW": "0"}, "STREAMLAB_WINDOW"},
		{[]string{"process", "log.jsonl"}, nil, "--input log.jsonl"},
	}
	for _, tc := range tests {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		code, _, stderr := run(t, "", tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", tc.args, code, stderr, tc.want)
		}
		for k := range tc.env {
			os.Unsetenv(k)
		}
	}
}

func TestProcessRefusesToOverwriteItsInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("{}\n"), 0o644)
	code, _, stderr := run(t, "", "process", "--input", in, "--aggregates-out", filepath.Join(dir, ".", "in.jsonl"))
	if code == 0 || !strings.Contains(stderr, "is the input file") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(in); string(b) != "{}\n" {
		t.Fatal("the input was truncated")
	}
	// Two spellings of one output file share one writer.
	out := filepath.Join(dir, "out.jsonl")
	if code, _, stderr := run(t, "", "process", "-q", "--input", in, "--aggregates-out", out, "--dlq-out", dir+"/./out.jsonl"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if lines := readLines(t, out); len(lines) != 1 || !strings.Contains(lines[0], `"reason":"schema_violation"`) {
		t.Fatalf("shared output: %q", lines)
	}
}

func TestEmptyEnvIsUnsetForNonStrings(t *testing.T) {
	t.Setenv("STREAMLAB_WINDOW", "")
	if code, _, stderr := run(t, "", "process", "-q"); code != 0 {
		t.Fatalf("STREAMLAB_WINDOW= should mean unset: %s", stderr)
	}
}

func TestEnvFallback(t *testing.T) {
	t.Setenv("STREAMLAB_WINDOW", "30s")
	in := validLine("123e4567-e89b-12d3-a456-426614174000", time.Date(2026, 1, 1, 0, 0, 40, 0, time.UTC)) + "\n"
	_, out, _ := run(t, in, "process", "-q")
	if !strings.Contains(out, `"window_start":"2026-01-01T00:00:30.000Z"`) {
		t.Fatalf("STREAMLAB_WINDOW not applied: %s", out)
	}
	// A flag beats the environment.
	_, out, _ = run(t, in, "process", "-q", "--window", "1m")
	if !strings.Contains(out, `"window_start":"2026-01-01T00:00:00.000Z"`) {
		t.Fatalf("flag did not win over env: %s", out)
	}
}

func TestGenIsDeterministicAndProcessable(t *testing.T) {
	_, a, _ := run(t, "", "gen", "--seed", "7", "--count", "2000")
	_, b, _ := run(t, "", "gen", "--seed", "7", "--count", "2000")
	_, c, _ := run(t, "", "gen", "--seed", "8", "--count", "2000")
	if a != b || a == c || strings.Count(a, "\n") != 2000 {
		t.Fatal("gen is not deterministic by seed")
	}
	code, _, stderr := run(t, a, "process", "--aggregates-out", os.DevNull, "--dlq-out", os.DevNull)
	if code != 0 || !strings.Contains(stderr, "lines 2000") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestProcessNow: --now is the record timestamp of every line. It decides
// future_event, caps how far a skewed event moves the watermark, and is the
// failed_at of every dead letter, so two runs with one --now write the same
// bytes.
func TestProcessNow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	lines := []string{
		validLine("123e4567-e89b-12d3-a456-426614174000", now.Add(-20*time.Second)),
		// 9 min ahead of --now: counted, but W moves only to --now − 5 s.
		validLine("123e4567-e89b-12d3-a456-426614174001", now.Add(9*time.Minute)),
		// So this on-time event in [12:00] is neither late nor an upsert.
		validLine("123e4567-e89b-12d3-a456-426614174002", now.Add(-25*time.Second)),
		validLine("123e4567-e89b-12d3-a456-426614174003", now.Add(10*time.Minute)),                  // exactly at the bound: counted
		validLine("123e4567-e89b-12d3-a456-426614174004", now.Add(10*time.Minute+time.Millisecond)), // future_event
		"not json",
	}
	in := strings.Join(lines, "\n") + "\n"
	args := []string{"process", "--now", "2026-01-01T13:00:30+01:00", "--dlq-out", "-", "--aggregates-out", "-"}
	code, out, stderr := run(t, in, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "lines 6  counted 4  duplicates 0  dead letters 2") {
		t.Fatalf("summary: %s", stderr)
	}
	want := []string{`"reason":"future_event"`, `"source_offset":4`, `"reason":"invalid_json"`,
		`"failed_at":"2026-01-01T12:00:30.000Z"`, `"window_start":"2026-01-01T12:00:00.000Z"`, `"events":2,`}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %s:\n%s", w, out)
		}
	}
	if strings.Contains(out, `"late_accepted":1`) || strings.Contains(out, `"late_event"`) {
		t.Fatalf("the skewed event made an on-time event late:\n%s", out)
	}
	if _, again, _ := run(t, in, args...); again != out {
		t.Fatalf("same input and --now, different output:\n%s\n---\n%s", out, again)
	}
	// Without the cap, the skewed line would have moved W to 12:09:25 and
	// line 2 would have been a late_event; a later --now shows the cap is
	// --now: the skewed event then moves W all the way.
	_, late, _ := run(t, in, "process", "-q", "--now", "2026-01-01T13:00:00Z", "--dlq-out", "-", "--aggregates-out", os.DevNull)
	if !strings.Contains(late, `"reason":"late_event","error":"event_time 2026-01-01T12:00:05.000Z`) {
		t.Fatalf("with --now after every event, line 2 should be late:\n%s", late)
	}
	if code, _, stderr := run(t, in, "process", "--now", "yesterday"); code == 0 || !strings.Contains(stderr, "--now") {
		t.Fatalf("bad --now: exit %d, %s", code, stderr)
	}
}

// TestProcessSummaryCountsUpserts: the summary's first emissions and
// upserts are the records written with revision 1 and above.
func TestProcessSummaryCountsUpserts(t *testing.T) {
	_, log, _ := run(t, "", "gen", "--seed", "3", "--count", "30000")
	out := filepath.Join(t.TempDir(), "aggs.jsonl")
	code, _, stderr := run(t, log, "process", "--aggregates-out", out, "--dlq-out", os.DevNull)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first, upserts := 0, 0
	for _, l := range readLines(t, out) {
		if strings.Contains(l, `"revision":1,`) {
			first++
		} else {
			upserts++
		}
	}
	want := fmt.Sprintf("emissions: %d first + %d upserts; the highest revision of each window", first, upserts)
	if upserts == 0 || !strings.Contains(stderr, want) || !strings.Contains(stderr, fmt.Sprintf("emissions %d\n", first+upserts)) {
		t.Fatalf("summary does not match the %d first and %d upserts written:\n%s", first, upserts, stderr)
	}
}
