package kafkaio

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/segmentio/kafka-go"
)

// Transient reports whether a Kafka call that failed with err may succeed
// if retried: the broker is not reachable yet or dropped the connection, a
// partition has no leader or moved, a coordinator is loading, a request
// timed out. It is the classifier roles hand to retry.Do. A missing topic
// is reported as transient by brokers (it may have just been created), so
// roles check that their topics exist once at start, where a missing one is
// a permanent error naming the fix.

func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		// kafka-go's Client reports a broker it cannot dial as Broker Not
		// Available (not Temporary in kafka-go): the broker is not up yet.
		return kerr.Temporary() || kerr == kafka.BrokerNotAvailable
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return true // dial and I/O failures on a broker connection
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !Transient(e) {
				return false
			}
		}
		return true
	}
	return false
}

// TransientOrLoading is Transient, and also UNKNOWN_SERVER_ERROR, which a
// KRaft broker answers ListOffsets with for a few seconds after a restart
// while it loads its logs (seen in CI 8 s after the broker came back). Only
// for retries bounded in time (a timeout or a deadline): a persistent
// unknown error is a real failure, and the roles' unbounded retries (the
// processor's, once running) must stop on it rather than loop.
func TransientOrLoading(err error) bool {
	return Transient(err) || errors.Is(err, kafka.Unknown)
}
