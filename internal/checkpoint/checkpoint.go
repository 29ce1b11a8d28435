// Package checkpoint encodes a partition's recovery point: the engine
// snapshot together with the input offset it corresponds to. Writing the two
// as one record is what makes recovery exact without Kafka transactions: the
// processor never resumes from an offset whose state it does not have.
package checkpoint

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Version of the record layout.
const Version = 1

// Checkpoint is the recovery point of one source partition.
type Checkpoint struct {
	Version    int             `json:"v"`
	Group      string          `json:"group"`
	Topic      string          `json:"topic"`
	Partition  int32           `json:"partition"`
	NextOffset int64           `json:"next_offset"` // first input offset not reflected in Engine
	WrittenAt  time.Time       `json:"written_at"`
	Engine     json.RawMessage `json:"engine"` // window.Engine snapshot
	// Pending are aggregate records published by a shutdown flush. They
	// are written after this checkpoint is saved, so a restore from it
	// writes them (again, identical) before anything else: otherwise a crash
	// between the two would leave the flushed revisions on the aggregate
	// topic while the restored engine, not knowing them, gives the same
	// revision numbers to other contents.
	Pending []Record `json:"pending,omitempty"`
}

// Record is one output record carried by a checkpoint.
type Record struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// Key is the record key on the state topic.
func Key(group, topic string, partition int32) string {
	return fmt.Sprintf("%s|%s|%d", group, topic, partition)
}

// Encode gzips the JSON form: window state is repetitive text (ids, user
// and session names) and compresses several-fold, which keeps checkpoints
// under the state topic's message size limit.
func Encode(c *Checkpoint) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(c); err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode checkpoint: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reverses Encode.
func Decode(b []byte) (*Checkpoint, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	if c.Version != Version {
		return nil, fmt.Errorf("decode checkpoint: version %d, want %d", c.Version, Version)
	}
	return &c, nil
}
