package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestTransient(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("fetch: %w", kafka.NotLeaderForPartition), true},
		{kafka.LeaderNotAvailable, true},
		{kafka.GroupCoordinatorNotAvailable, true},
		{kafka.GroupLoadInProgress, true},
		{kafka.RequestTimedOut, true},
		// What kafka-go's Client returns for a broker it cannot dial:
		{fmt.Errorf("kafka.(*Client).CreateTopics: %w", kafka.BrokerNotAvailable), true},
		{kafka.UnknownTopicOrPartition, true},                       // just created: see the doc comment
		{fmt.Errorf("end offset of t/0: %w", kafka.Unknown), false}, // see TransientOrLoading
		{kafka.MessageSizeTooLarge, false},
		{kafka.TopicAuthorizationFailed, false},
		{kafka.InvalidTopic, false},
		{dial, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{kafka.WriteErrors{nil, kafka.NotLeaderForPartition}, true},
		{kafka.WriteErrors{kafka.NotLeaderForPartition, kafka.MessageSizeTooLarge}, false},
		{errors.New("state topic belongs to another group"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestTransientOrLoading(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("end offset of t/0: %w", kafka.Unknown), true}, // a broker still loading after a restart
		{kafka.LeaderNotAvailable, true},
		{kafka.TopicAuthorizationFailed, false},
		{nil, false},
	} {
		if got := TransientOrLoading(tc.err); got != tc.want {
			t.Errorf("TransientOrLoading(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
