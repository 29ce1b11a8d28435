package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/streamlab/streamlab/internal/checkpoint"
	"github.com/streamlab/streamlab/internal/kafkaio"
	"github.com/streamlab/streamlab/internal/kafkatest"
)

// stateRecords reads partition 0 of the state topic: every record's key,
// "(tombstone)" for deletions.
func stateRecords(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	var out []string
	if err := kafkaio.ReadPartitionToEnd(context.Background(), brokers, topic, 0, func(m kafka.Message) error {
		s := string(m.Key)
		if m.Value == nil {
			s += " (tombstone)"
		}
		out = append(out, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func windows(states map[int64]string) []WindowState {
	var out []WindowState
	for start, s := range states {
		out = append(out, WindowState{Start: start, State: []byte(s)})
	}
	return out
}

func sortedStates(st *State) []string {
	var out []string
	for _, w := range st.Windows {
		out = append(out, string(w))
	}
	slices.Sort(out)
	return out
}

// TestStateStoreWritesWhatChanged: the first checkpoint of an owner writes
// every window, later ones only the changed windows, a tombstone per window
// that left and the checkpoint record last; a new owner reads back exactly
// the last checkpoint's windows and starts a new incarnation that replaces
// the old records.
func TestStateStoreWritesWhatChanged(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 1)
	ctx := context.Background()
	s := newKafkaStore(brokers, topics.State, "g", topics.Raw)
	if st, err := s.Load(ctx, 0, 1); err != nil || st != nil {
		t.Fatalf("empty topic: %v, %v", st, err)
	}
	save := func(next int64, changed map[int64]string, live ...int64) int {
		t.Helper()
		n, err := s.Save(ctx, &Checkpoint{Partition: 0, NextOffset: next, WrittenAt: time.Now(), Engine: []byte("meta"), Changed: windows(changed), Live: live})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	full := save(100, map[int64]string{0: "a", 60: "b", 120: "c"}, 0, 60, 120)
	small := save(200, map[int64]string{120: "c2"}, 60, 120) // 0 left, 60 unchanged
	if small >= full {
		t.Errorf("a checkpoint changing one window wrote %d bytes, the full one %d", small, full)
	}
	want := []string{
		"g|events.raw.v1|0|1.1|w0", "g|events.raw.v1|0|1.1|w60", "g|events.raw.v1|0|1.1|w120", "g|events.raw.v1|0|1.1|c",
		"g|events.raw.v1|0|1.1|w120", "g|events.raw.v1|0|1.1|w0 (tombstone)", "g|events.raw.v1|0|1.1|c",
	}
	got := stateRecords(t, brokers, topics.State)
	if !slices.Equal(slices.Sorted(slices.Values(got[:4])), slices.Sorted(slices.Values(want[:4]))) || !slices.Equal(got[4:], want[4:]) {
		t.Fatalf("records on the state topic:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A new owner (generation 2) reads the last checkpoint back.
	s2 := newKafkaStore(brokers, topics.State, "g", topics.Raw)
	st, err := s2.Load(ctx, 0, 2)
	if err != nil || st == nil || st.NextOffset != 200 || string(st.Engine) != "meta" || !slices.Equal(sortedStates(st), []string{"b", "c2"}) {
		t.Fatalf("restored %+v, %v", st, err)
	}
	// Its first checkpoint writes everything under epoch 2 and deletes
	// every record of epoch 1.
	if _, err := s2.Save(ctx, &Checkpoint{Partition: 0, NextOffset: 250, Engine: []byte("meta"), Changed: windows(map[int64]string{60: "b", 120: "c3"}), Live: []int64{60, 120}}); err != nil {
		t.Fatal(err)
	}
	got = stateRecords(t, brokers, topics.State)[7:]
	tombs := 0
	for _, k := range got {
		if strings.HasSuffix(k, "(tombstone)") {
			tombs++
			if !strings.Contains(k, "|1.1|") {
				t.Errorf("the new owner deleted its own record %s", k)
			}
		}
	}
	if tombs != 3 { // w60, w120 and c of epoch 1; w0 was already deleted
		t.Errorf("the new owner's first checkpoint deleted %d records of epoch 1, want 3:\n%s", tombs, strings.Join(got, "\n"))
	}
	if got[len(got)-1] != "g|events.raw.v1|0|2.2|c" {
		t.Fatalf("the last record is %q, want the new owner's checkpoint", got[len(got)-1])
	}
	st, err = newKafkaStore(brokers, topics.State, "g", topics.Raw).Load(ctx, 0, 3)
	if err != nil || st.NextOffset != 250 || !slices.Equal(sortedStates(st), []string{"b", "c3"}) {
		t.Fatalf("restored after the new owner: %+v, %v", st, err)
	}
}

// TestStateStoreIgnoresAZombie: a replica that lost the partition without
// knowing it (a zombie) and keeps saving cannot disturb the state of the
// owner that took over: the newest owner's incarnation wins on restore.
func TestStateStoreIgnoresAZombie(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 1)
	ctx := context.Background()
	cp := func(next int64, states map[int64]string) *Checkpoint {
		c := &Checkpoint{Partition: 0, NextOffset: next, Engine: []byte(fmt.Sprint(next)), Changed: windows(states)}
		for start := range states {
			c.Live = append(c.Live, start)
		}
		return c
	}
	zombie := newKafkaStore(brokers, topics.State, "g", topics.Raw)
	if _, err := zombie.Load(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := zombie.Save(ctx, cp(100, map[int64]string{0: "z1", 60: "z1"})); err != nil {
		t.Fatal(err)
	}
	owner := newKafkaStore(brokers, topics.State, "g", topics.Raw)
	if _, err := owner.Load(ctx, 0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Save(ctx, cp(150, map[int64]string{0: "o", 60: "o"})); err != nil {
		t.Fatal(err)
	}
	// The zombie goes on, after the owner deleted its records.
	if _, err := zombie.Save(ctx, &Checkpoint{Partition: 0, NextOffset: 300, Engine: []byte("300"), Changed: windows(map[int64]string{60: "z2"}), Live: []int64{0, 60}}); err != nil {
		t.Fatal(err)
	}
	st, err := newKafkaStore(brokers, topics.State, "g", topics.Raw).Load(ctx, 0, 3)
	if err != nil || st.NextOffset != 150 || !slices.Equal(sortedStates(st), []string{"o", "o"}) {
		t.Fatalf("restored %+v, %v; want the owner's checkpoint at 150", st, err)
	}
}

// TestStateStoreRefusesForeignAndOldState: records of another group, or a
// checkpoint in the format before this one, are errors naming the fix,
// never mixed into the state.
func TestStateStoreRefusesForeignAndOldState(t *testing.T) {
	brokers, topics := kafkatest.Start(t, 1)
	ctx := context.Background()
	other := newKafkaStore(brokers, topics.State, "other", topics.Raw)
	if _, err := other.Load(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Save(ctx, &Checkpoint{Partition: 0, NextOffset: 1, Engine: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	_, err := newKafkaStore(brokers, topics.State, "g", topics.Raw).Load(ctx, 0, 1)
	if !errors.Is(err, ErrForeignState) || !strings.Contains(err.Error(), "its own state topic") {
		t.Fatalf("another group's state: %v", err)
	}

	brokers, topics = kafkatest.Start(t, 1)
	w := kafkaio.NewWriter(brokers, topics.State)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(checkpoint.Key("g", topics.Raw, 0)), Value: []byte{0x1f, 0x8b}}); err != nil {
		t.Fatal(err)
	}
	_, err = newKafkaStore(brokers, topics.State, "g", topics.Raw).Load(ctx, 0, 1)
	if !errors.Is(err, ErrOldState) || !strings.Contains(err.Error(), "new group") {
		t.Fatalf("a checkpoint of the old format: %v", err)
	}
}
