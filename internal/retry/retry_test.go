package retry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var fast = Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond, Timeout: time.Second}

func TestDoHealsAndLogsOncePerState(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	calls := 0
	v, err := Do(context.Background(), fast, log, "connect", nil, func(context.Context) (int, error) {
		calls++
		switch {
		case calls <= 3:
			return 0, errors.New("connection refused")
		case calls <= 6:
			return 0, errors.New("not leader for partition")
		}
		return 42, nil
	})
	if err != nil || v != 42 {
		t.Fatalf("Do = %d, %v", v, err)
	}
	out := buf.String()
	if n := strings.Count(out, "retrying"); n != 2 {
		t.Errorf("%d retry lines for 6 failures in 2 states, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "connect: recovered") || !strings.Contains(out, "attempts=7") {
		t.Errorf("no recovery line:\n%s", out)
	}
}

func TestDoStopsAtPermanentErrors(t *testing.T) {
	missing := errors.New("topic events.raw.v1 does not exist: run 'streamlab topics create'")
	for name, tc := range map[string]struct {
		transient func(error) bool
		err       error
	}{
		"marked":         {nil, Permanent(missing)},
		"not transient":  {func(error) bool { return false }, missing},
		"classified out": {func(e error) bool { return !errors.Is(e, missing) }, missing},
	} {
		calls := 0
		_, err := Do(context.Background(), fast, nil, "check topics", tc.transient, func(context.Context) (int, error) {
			calls++
			return 0, tc.err
		})
		if calls != 1 || !errors.Is(err, missing) || errors.Is(err, ErrGaveUp) {
			t.Errorf("%s: %d calls, err %v", name, calls, err)
		}
		if !strings.HasPrefix(err.Error(), "check topics: topic events.raw.v1 does not exist") {
			t.Errorf("%s: message %q", name, err)
		}
	}
}

func TestDoGivesUpAfterTheTimeout(t *testing.T) {
	p := fast
	p.Timeout = 50 * time.Millisecond
	refused := errors.New("connection refused")
	start := time.Now()
	_, err := Do(context.Background(), p, nil, "connect to Kafka", nil, func(context.Context) (int, error) { return 0, refused })
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, refused) {
		t.Fatalf("err = %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("gave up after %s", elapsed)
	}
}

func TestDoStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Do(ctx, Policy{Initial: time.Millisecond, Max: time.Millisecond}, nil, "connect", nil, func(context.Context) (int, error) {
		if calls++; calls == 3 {
			cancel()
		}
		return 0, errors.New("connection refused")
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Policy{Initial: 0, Max: -1, Timeout: -1}.Validate()
	for _, want := range []string{"initial retry wait", "maximum retry wait", "timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
