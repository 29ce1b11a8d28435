package kafkaio_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
)

// TestRestoreEmpty: a kafka-go Reader returns empty keys, values and
// header values as nil, like nulls; RestoreEmpty gives back the
// difference. On a real broker: e2e TestEmptyAndNullRoundTrip.
func TestRestoreEmpty(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := []kafka.Message{
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}},
		{Key: []byte("k"), Value: []byte("v")},
		{Key: []byte("k"), Value: []byte{}, Headers: []kafka.Header{{Key: "e", Value: []byte{}}, {Key: "n"}, {Key: "x", Value: []byte("1")}}},
		{Key: nil, Value: []byte("v")},
		{Key: []byte{}, Value: nil},
	}
	w := kafkaio.NewWriter(brokers, topics.Raw)
	defer w.Close()
	if err := w.WriteMessages(ctx, in...); err != nil {
		t.Fatal(err)
	}
	var got []kafka.Message
	if err := kafkaio.ReadPartitionToEnd(ctx, brokers, topics.Raw, 0, func(m kafka.Message) error {
		got = append(got, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("read %d of %d", len(got), len(in))
	}
	if got[1].Key != nil || got[1].Value != nil {
		t.Fatalf("kafka-go's Reader now keeps empty apart from null (%q, %q): RestoreEmpty may be unnecessary", got[1].Key, got[1].Value)
	}
	if err := kafkaio.RestoreEmpty(ctx, brokers, got); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		same := func(what string, a, b []byte) {
			if (a == nil) != (b == nil) || string(a) != string(b) {
				t.Errorf("record %d %s: wrote %#v, read %#v", i, what, a, b)
			}
		}
		same("key", in[i].Key, got[i].Key)
		same("value", in[i].Value, got[i].Value)
		for j := range in[i].Headers {
			same("header "+in[i].Headers[j].Key, in[i].Headers[j].Value, got[i].Headers[j].Value)
		}
	}
}
