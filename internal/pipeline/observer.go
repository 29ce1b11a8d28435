package pipeline

// Observer is told what a Partition does: the outcome of every message,
// every aggregate emission and every flush. It is the one place the rest of
// the program learns about them (Prometheus metrics, the offline summary,
// the demo view, tests), so nothing counts outcomes a second time — the
// hooks style of franz-go's kgo.
//
// Calls are synchronous, on the goroutine that calls Process or Flush, in
// the order things happen: an emission a message causes is reported before
// the message's outcome. Keep them cheap and do not retain the arguments.
// Embed NopObserver to implement only some methods; a method added to this
// interface later gets a no-op there, so embedding implementations keep
// compiling.
type Observer interface {
	// OnMessage reports the single outcome of one message: Counted,
	// Duplicate or a dead-letter reason.
	OnMessage(m *Message, o Outcome)
	// OnEmit reports one aggregate emission of a window of the partition.
	OnEmit(partition int32, kind EmitKind)
	// OnFlush reports a flush (end of input or graceful shutdown) and how
	// many windows it published; their emissions were reported before it.
	OnFlush(partition int32, published int)
}

// EmitKind tells a window's first emission from its later revisions.
type EmitKind uint8

const (
	// FirstEmission is revision 1 of a window: the watermark passed its end,
	// or a flush published it first.
	FirstEmission EmitKind = iota + 1
	// Upsert is any later revision: the window changed after it was
	// published (late events, duplicates, or events after a shutdown flush).
	Upsert
)

func (k EmitKind) String() string {
	switch k {
	case FirstEmission:
		return "first"
	case Upsert:
		return "upsert"
	}
	return "unknown"
}

// emitKind classifies an emission by its revision.
func emitKind(revision int64) EmitKind {
	if revision == 1 {
		return FirstEmission
	}
	return Upsert
}

// NopObserver ignores everything. Embed it in an observer that only needs
// some of the methods.
type NopObserver struct{}

func (NopObserver) OnMessage(*Message, Outcome) {}
func (NopObserver) OnEmit(int32, EmitKind)      {}
func (NopObserver) OnFlush(int32, int)          {}
