package topic

import (
	"strings"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	specs := Specs(Defaults(), 3, time.Hour)
	byName := map[string]Spec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	n := Defaults()
	cases := []struct {
		topic      string
		partitions int
		configs    map[string]string
		want       string // differences, "; "-joined; "" = none
		breaks     bool
	}{
		{n.Raw, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}, "", false},
		{n.Raw, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000"}, "retention.ms=604800000 (want 3600000)", false},
		{n.Raw, 3, map[string]string{"cleanup.policy": "compact", "retention.ms": "3600000"}, "cleanup.policy=compact (want delete)", true},
		{n.Raw, 6, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}, "partitions=6 (want 3)", true},
		{n.Agg, 3, map[string]string{"cleanup.policy": "delete,compact", "retention.ms": "3600000"}, "", false}, // a set
		{n.DLQ, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000", "max.message.bytes": "8388608"}, "", false},
		{n.DLQ, 3, map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000", "max.message.bytes": "1048588"}, "max.message.bytes=1048588 (want at least 4194304)", true},
		{n.State, 3, map[string]string{"cleanup.policy": "delete", "max.message.bytes": "67108864", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "600000"}, "cleanup.policy=delete (want compact)", true},
		{n.State, 3, map[string]string{"cleanup.policy": "compact", "max.message.bytes": "67108864", "min.cleanable.dirty.ratio": "0.5", "segment.ms": "600000"}, "min.cleanable.dirty.ratio=0.5 (want 0.1)", false},
	}
	for _, c := range cases {
		ds := byName[c.topic].Compare(c.partitions, c.configs)
		var got []string
		breaks := false
		for _, d := range ds {
			got = append(got, strings.SplitN(d.String(), ":", 2)[0])
			breaks = breaks || d.Breaks
			if d.Breaks && d.Why == "" {
				t.Errorf("%s: %s breaks the pipeline without saying why", c.topic, d)
			}
		}
		if strings.Join(got, "; ") != c.want || breaks != c.breaks {
			t.Errorf("%s %v: got %q breaks=%v, want %q breaks=%v", c.topic, c.configs, got, breaks, c.want, c.breaks)
		}
	}
}

func TestDLQMessageBytes(t *testing.T) {
	if got := DLQMessageBytes(1048588); got != MaxDLQMessageBytes {
		t.Errorf("default raw limit: %d", got)
	}
	if got := DLQMessageBytes(6 << 20); got != 6<<20+DLQHeadroomBytes {
		t.Errorf("raised raw limit: %d", got)
	}
}
