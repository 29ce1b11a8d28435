package dispatcher

import (
	"sync/atomic"

	"github.com/streamlab/streamlab/dispatcher/discord"
	"github.com/streamlab/streamlab/dispatcher/incident"
)

// Notifier takes alerts for delivery. Enqueue must never block: it is
// called from the loop that consumes Kafka.
type Notifier interface {
	Enqueue(a incident.Alert)
	Sent() int64
	Failed() int64
	Dropped() int64
	RateLimited() int64
	Retried() int64
	Len() int
}

var _ Notifier = (*discord.Sender)(nil)

// logOnly is the dry run without a webhook: the core already logs every
// alert, so delivering one is just counting it.
type logOnly struct{ n atomic.Int64 }

func (l *logOnly) Enqueue(incident.Alert) { l.n.Add(1) }
func (l *logOnly) Sent() int64            { return l.n.Load() }
func (l *logOnly) Failed() int64          { return 0 }
func (l *logOnly) Dropped() int64         { return 0 }
func (l *logOnly) RateLimited() int64     { return 0 }
func (l *logOnly) Retried() int64         { return 0 }
func (l *logOnly) Len() int               { return 0 }
