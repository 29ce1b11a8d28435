// Package kafkaio holds the thin kafka-go adapters every role shares, one
// file per job: broker lists (brokers.go), durable writers (writer.go),
// topic administration (admin.go), whole-topic reads (read.go), offsets,
// offsets at a time and ranged reads (offsets.go), a consumer group's lag
// seen from outside (lag.go) and making empty keys and values read back as
// empty (empty.go).
package kafkaio

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ParseBrokers splits a comma-separated broker list and checks each entry.
func ParseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("broker %q: want host:port: %w", b, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("no Kafka brokers given: set --brokers or STREAMLAB_BROKERS (host:port,...)")
	}
	return out, nil
}
