package aggregate

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/streamlab/streamlab/internal/jsonscan"
)

// Count is one entry of a map field of a record.
type Count struct {
	Key string
	N   int64
}

// View is a Record whose map fields are lists in ascending key order (byte
// order, the order encoding/json sorts map keys in). It is the form the
// window engine holds a window in, and it encodes with AppendJSON without
// reflection and without sorting anything.
//
// A View handed to an emit callback is only valid during the call: the
// engine reuses its slices. Copy what you keep (AppendJSON, Record).
type View struct {
	SchemaVersion   int
	WindowStart     string
	WindowEnd       string
	SourcePartition int32
	Revision        int64
	Events          int64
	EventsByType    []Count
	Users           int64
	Sessions        int64
	Orders          int64
	RevenueMinor    []Count
	Refunds         int64
	RefundedMinor   []Count
	PaymentFailures int64
	Funnel          []Count
	ProductViews    []Count
	LateAccepted    int64
	Duplicates      int64
}

// AppendKey appends the record key (Record.Key) to dst.
func (v *View) AppendKey(dst []byte) []byte {
	dst = append(dst, v.WindowStart...)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, int64(v.SourcePartition), 10)
}

// AppendJSON appends the record's JSON encoding to dst: byte for byte what
// encoding/json makes of the equivalent Record (Record.Marshal), which is
// what keeps re-emitted revisions identical.
func (v *View) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"schema_version":`...)
	dst = strconv.AppendInt(dst, int64(v.SchemaVersion), 10)
	dst = append(dst, `,"window_start":`...)
	dst = jsonscan.AppendString(dst, v.WindowStart)
	dst = append(dst, `,"window_end":`...)
	dst = jsonscan.AppendString(dst, v.WindowEnd)
	dst = appendInt(dst, `,"source_partition":`, int64(v.SourcePartition))
	dst = appendInt(dst, `,"revision":`, v.Revision)
	dst = appendInt(dst, `,"events":`, v.Events)
	dst = appendCounts(dst, `,"events_by_type":`, v.EventsByType)
	dst = appendInt(dst, `,"users":`, v.Users)
	dst = appendInt(dst, `,"sessions":`, v.Sessions)
	dst = appendInt(dst, `,"orders":`, v.Orders)
	dst = appendCounts(dst, `,"revenue_minor":`, v.RevenueMinor)
	dst = appendInt(dst, `,"refunds":`, v.Refunds)
	dst = appendCounts(dst, `,"refunded_minor":`, v.RefundedMinor)
	dst = appendInt(dst, `,"payment_failures":`, v.PaymentFailures)
	dst = appendCounts(dst, `,"funnel":`, v.Funnel)
	dst = appendCounts(dst, `,"product_views":`, v.ProductViews)
	dst = appendInt(dst, `,"late_accepted":`, v.LateAccepted)
	dst = appendInt(dst, `,"duplicates":`, v.Duplicates)
	return append(dst, '}')
}

// Record copies the view into a Record with maps.
func (v *View) Record() *Record {
	return &Record{
		SchemaVersion: v.SchemaVersion, WindowStart: v.WindowStart, WindowEnd: v.WindowEnd,
		SourcePartition: v.SourcePartition, Revision: v.Revision, Events: v.Events,
		EventsByType: countMap(v.EventsByType), Users: v.Users, Sessions: v.Sessions, Orders: v.Orders,
		RevenueMinor: countMap(v.RevenueMinor), Refunds: v.Refunds, RefundedMinor: countMap(v.RefundedMinor),
		PaymentFailures: v.PaymentFailures, Funnel: countMap(v.Funnel), ProductViews: countMap(v.ProductViews),
		LateAccepted: v.LateAccepted, Duplicates: v.Duplicates,
	}
}

// View returns the record as a View, sorting its map keys.
func (r *Record) View() *View {
	return &View{
		SchemaVersion: r.SchemaVersion, WindowStart: r.WindowStart, WindowEnd: r.WindowEnd,
		SourcePartition: r.SourcePartition, Revision: r.Revision, Events: r.Events,
		EventsByType: sortedCounts(r.EventsByType), Users: r.Users, Sessions: r.Sessions, Orders: r.Orders,
		RevenueMinor: sortedCounts(r.RevenueMinor), Refunds: r.Refunds, RefundedMinor: sortedCounts(r.RefundedMinor),
		PaymentFailures: r.PaymentFailures, Funnel: sortedCounts(r.Funnel), ProductViews: sortedCounts(r.ProductViews),
		LateAccepted: r.LateAccepted, Duplicates: r.Duplicates,
	}
}

func countMap(cs []Count) map[string]int64 {
	m := make(map[string]int64, len(cs))
	for _, c := range cs {
		m[c.Key] = c.N
	}
	return m
}

func sortedCounts(m map[string]int64) []Count {
	cs := make([]Count, 0, len(m))
	for k, n := range m {
		cs = append(cs, Count{k, n})
	}
	slices.SortFunc(cs, func(a, b Count) int { return cmp.Compare(a.Key, b.Key) })
	return cs
}

func appendInt(dst []byte, name string, n int64) []byte {
	return strconv.AppendInt(append(dst, name...), n, 10)
}

func appendCounts(dst []byte, name string, cs []Count) []byte {
	dst = append(dst, name...)
	dst = append(dst, '{')
	for i, c := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonscan.AppendString(dst, c.Key)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, c.N, 10)
	}
	return append(dst, '}')
}
