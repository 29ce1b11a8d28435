package kafkaio

import (
	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/deadletter"
)

// Headers converts dead-letter headers to kafka-go headers.
func Headers(hs []deadletter.Header) []kafka.Header {
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// FromKafkaHeaders converts kafka-go headers to dead-letter headers.
func FromKafkaHeaders(hs []kafka.Header) []deadletter.Header {
	out := make([]deadletter.Header, len(hs))
	for i, h := range hs {
		out[i] = deadletter.Header{Key: h.Key, Value: h.Value}
	}
	return out
}
