package demo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/streamlab/streamlab/internal/topic"
)

// TestServiceFailureEndsTheRunOnce: a role that stops on its own with an
// error ends the run with it, and stopping it does not report it twice.
func TestServiceFailureEndsTheRunOnce(t *testing.T) {
	failed := make(chan error, 1)
	boom := errors.New("boom")
	s := start(context.Background(), "producer", failed, func(context.Context) error { return boom })
	if err := <-failed; !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "producer: ") {
		t.Fatalf("failed got %v", err)
	}
	if err := s.stop(); err != nil {
		t.Errorf("stop returned the reported error again: %v", err)
	}
	// Stopping is not a failure.
	s = start(context.Background(), "processor", failed, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if err := s.stop(); err != nil {
		t.Errorf("stop of a service ending with its context: %v", err)
	}
	select {
	case err := <-failed:
		t.Errorf("a stopped service reported %v", err)
	default:
	}
}

func TestWaitForSaysWhatItWaitedFor(t *testing.T) {
	n := 0
	err := waitFor(context.Background(), 10*time.Second, "three polls", func(context.Context) (bool, string, error) {
		n++
		return n == 3, "", nil
	})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d polls", err, n)
	}
	err = waitFor(context.Background(), 100*time.Millisecond, "the processor to commit", func(context.Context) (bool, string, error) {
		return false, "12 messages not committed", nil
	})
	if err == nil || !strings.Contains(err.Error(), "the processor to commit") || !strings.Contains(err.Error(), "12 messages not committed") {
		t.Errorf("timeout error %v: want what was awaited and the last progress", err)
	}
}

// TestTerminalDrawOverwrites: in a terminal a frame is drawn over the
// previous one, each line cleared to its end and the rest of the screen
// below, so a shorter frame or a stray log line leaves nothing behind.
func TestTerminalDrawOverwrites(t *testing.T) {
	var out bytes.Buffer
	r := &run{cfg: Config{Terminal: true, Out: &out}}
	r.draw("a\nb\n")
	r.draw("c\n")
	want := "\x1b[H\x1b[2J" + "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J" + "\x1b[Hc\x1b[K\n\x1b[J"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	out.Reset()
	r = &run{cfg: Config{Out: &out}}
	r.draw("a\n")
	r.draw("b\n")
	if out.String() != "a\n\nb\n\n" {
		t.Errorf("plain frames: got %q", out.String())
	}
}

func TestReadKeys(t *testing.T) {
	v := newView(DefaultWindow(), 3, topic.Defaults(), true, time.Now())
	w := &burstWriter{queue: make(chan burstRequest, 8), view: v}
	quit := false
	readKeys(strings.NewReader("m\n\n x \nd\nq\nl\n"), w, func() { quit = true })
	if !quit {
		t.Error("q did not quit")
	}
	if len(w.queue) != 2 {
		t.Fatalf("%d bursts queued, want m and d (l came after q)", len(w.queue))
	}
	if b := <-w.queue; b.Kind != "malformed" || b.Count != 300 {
		t.Errorf("m queued %+v", b.Burst)
	}
	if b := <-w.queue; b.Kind != "duplicate" {
		t.Errorf("d queued %+v", b.Burst)
	}
	f := v.frame(time.Now()).render()
	for _, want := range []string{"key m: burst of 300 malformed queued", `unknown command "x"`, "key d: burst of 200 duplicate queued"} {
		if !strings.Contains(f, want) {
			t.Errorf("frame lacks %q:\n%s", want, f)
		}
	}
}
