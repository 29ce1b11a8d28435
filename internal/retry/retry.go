// Package retry is the heal-or-stop policy every role shares: a transient
// failure (a broker not up yet, a partition without a leader, a coordinator
// still loading, a reset connection) is retried with capped exponential
// backoff and logged once per change of state, never once per attempt; a
// permanent one (marked with Permanent, or not transient by the caller's
// classifier) stops at once with its message; and the whole wait is
// bounded, so a role started against a broker that never comes up exits
// with an error instead of waiting forever.
package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy bounds the retries of one operation.
type Policy struct {
	// Initial is the first wait after a failure; default 250ms.
	Initial time.Duration
	// Max caps the wait between two attempts; default 10s.
	Max time.Duration
	// Timeout bounds the whole operation, waits included; 0 means until
	// the context ends. Default 3m: docker-compose starts every service
	// at once, and a broker takes tens of seconds to accept clients.
	Timeout time.Duration
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{Initial: 250 * time.Millisecond, Max: 10 * time.Second, Timeout: 3 * time.Minute}
}

// Validate says what is wrong with a policy.
func (p Policy) Validate() error {
	var errs []error
	if p.Initial <= 0 {
		errs = append(errs, fmt.Errorf("initial retry wait must be positive, got %s", p.Initial))
	}
	if p.Max < p.Initial {
		errs = append(errs, fmt.Errorf("maximum retry wait %s is below the initial wait %s", p.Max, p.Initial))
	}
	if p.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must not be negative, got %s", p.Timeout))
	}
	return errors.Join(errs...)
}

// Permanent marks err as not worth retrying: Do returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return backoff.Permanent(err)
}

// ErrGaveUp is wrapped by the error Do returns when the timeout passed.
var ErrGaveUp = errors.New("gave up")

// Do runs op until it succeeds, fails permanently, the policy's timeout
// passes or ctx ends. An error is retried only if transient(err) says so
// (nil means every error not marked Permanent is transient). what names
// the operation in logs and errors ("connect to Kafka at localhost:9092").
// log may be nil.
func Do[T any](ctx context.Context, p Policy, log *slog.Logger, what string, transient func(error) bool, op func(context.Context) (T, error)) (T, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exp := backoff.NewExponentialBackOff()
	exp.InitialInterval, exp.MaxInterval = p.Initial, p.Max
	if exp.InitialInterval <= 0 {
		exp.InitialInterval = DefaultPolicy().Initial
	}
	if exp.MaxInterval < exp.InitialInterval {
		exp.MaxInterval = max(exp.InitialInterval, DefaultPolicy().Max)
	}
	start := time.Now()
	var (
		attempts  int
		lastMsg   string
		permanent bool
	)
	res, err := backoff.Retry(ctx, func() (T, error) {
		attempts++
		v, err := op(ctx)
		if err == nil {
			return v, nil
		}
		var perm *backoff.PermanentError
		if errors.As(err, &perm) || ctx.Err() != nil || (transient != nil && !transient(err)) {
			permanent = true
			return v, backoff.Permanent(err)
		}
		// One line per change of state: the first failure and every
		// change of error, never one per attempt.
		if msg := err.Error(); msg != lastMsg {
			lastMsg = msg
			log.Warn(what+": not available yet; retrying", "error", err, "waited", time.Since(start).Round(time.Millisecond))
		}
		return v, err
	}, backoff.WithBackOff(exp), backoff.WithMaxElapsedTime(p.Timeout))
	switch {
	case err == nil:
		if attempts > 1 {
			log.Info(what+": recovered", "attempts", attempts, "waited", time.Since(start).Round(time.Millisecond))
		}
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s: %w", what, context.Cause(ctx))
	case permanent:
		return res, fmt.Errorf("%s: %w", what, err)
	default:
		return res, fmt.Errorf("%s: %w after %s: %w", what, ErrGaveUp, time.Since(start).Round(100*time.Millisecond), err)
	}
}
