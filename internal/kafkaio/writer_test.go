package kafkaio

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// javaPartitions are what the Java client (kafka-clients 4.1.2,
// BuiltInPartitioner.partitionForKey = toPositive(Utils.murmur2(key)) % n)
// computes for these keys with 3, 7 and 12 partitions, produced with the
// broker's own jar. Murmur2 values of both signs, every tail length, an
// empty key and binary keys.
var javaPartitions = []struct {
	key     string
	murmur2 int32
	p3      int
	p7      int
	p12     int
}{
	{"", 275646681, 0, 2, 9},
	{"21", -973932308, 0, 3, 0},
	{"foobar", -790332482, 0, 0, 6},
	{"a-little-bit-long-string", -985981536, 2, 1, 8},
	{"user-000001", -1895475549, 2, 0, 11},
	{"user-002936", -1750105764, 2, 1, 8},
	{"user-004410", 223482977, 2, 4, 5},
	{"user-002287", -882209477, 0, 0, 3},
	{"user-999999", -454020563, 0, 6, 9},
	{"\xc3\xa9t\xc3\xa9", -2101193575, 1, 4, 1},
	{"k", -1567496736, 2, 1, 8},
	{"\xff", -311467685, 0, 5, 3},
	{"\x80\x00\xff", -1787010553, 1, 3, 7},
	{"\xfe\xed\xfa\xce\x01", 1804979727, 0, 5, 3},
}

func partitionIDs(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestKeyBalancerIsJavas: every keyed writer puts a key where the Java
// client (and librdkafka's murmur2_random, and kcat with it) does. Proven on
// a real broker against the Java console producer by e2e
// TestJavaClientPartitionsLikeOurWriters, and against kcat by
// TestThirdPartyWritersReplay.
func TestKeyBalancerIsJavas(t *testing.T) {
	b := KeyBalancer()
	for _, tc := range javaPartitions {
		for n, want := range map[int]int{3: tc.p3, 7: tc.p7, 12: tc.p12} {
			if got := b.Balance(kafka.Message{Key: []byte(tc.key)}, partitionIDs(n)...); got != want {
				t.Errorf("key %q (murmur2 %d) on %d partitions: %d, Java says %d", tc.key, tc.murmur2, n, got, want)
			}
		}
	}
	// A nil key is not hashed (Java and librdkafka spread those); an empty
	// one is, like any other key.
	seen := map[int]bool{}
	for range 200 {
		seen[b.Balance(kafka.Message{}, partitionIDs(3)...)] = true
	}
	if len(seen) != 3 {
		t.Errorf("nil keys went to partitions %v only", seen)
	}
}

// TestFNVWasElsewhere records why the writers changed: kafka-go's default
// Hash (FNV-1a) disagrees with the Java client for most keys.
func TestFNVWasElsewhere(t *testing.T) {
	differ := 0
	for _, tc := range javaPartitions {
		if (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(tc.key)}, partitionIDs(3)...) != tc.p3 {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("FNV-1a agrees with Java on every key: the test keys prove nothing")
	}
	t.Logf("FNV-1a puts %d of %d keys in another partition than Java on 3 partitions", differ, len(javaPartitions))
}

func TestMessagePartition(t *testing.T) {
	for p := range 5 {
		if got := MessagePartition.Balance(kafka.Message{Partition: p, Key: []byte("user-000001")}, partitionIDs(5)...); got != p {
			t.Fatalf("partition %d: %d", p, got)
		}
	}
}
