package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// source is a partition of the input topic.
type source struct {
	topic     string
	partition int32
}

// coord identifies a dead letter by its source record: a processor that
// restarts from its checkpoint writes some dead letters again, and each
// counts once.
type coord struct {
	source
	offset int64
}

// span is the range of source offsets of the dead letters of one bucket.
type span struct{ min, max int64 }

// bucket is one DLQBucket of processing time (dlq.failed_at, or the Kafka
// timestamp of an aggregate).
type bucket struct {
	start   int64
	active  bool                        // an aggregate was written in it
	marks   map[source]span             // how far the processor read each source partition
	counts  map[string]int64            // dead letters by "rule/dimension"
	reasons map[string]map[string]int64 // and by reason, for the summary
}

func (e *Engine) bucketAt(ms int64) *bucket {
	k := floorDiv(ms, e.cfg.DLQBucket.Milliseconds())
	b := e.buckets[k]
	if b == nil {
		b = &bucket{start: k, marks: map[source]span{}, counts: map[string]int64{}, reasons: map[string]map[string]int64{}}
		e.buckets[k] = b
	}
	return b
}

func (b *bucket) mark(s source, offset int64) {
	sp, ok := b.marks[s]
	if !ok {
		b.marks[s] = span{offset, offset}
		return
	}
	b.marks[s] = span{min(sp.min, offset), max(sp.max, offset)}
}

func (b *bucket) add(key, reason string) {
	b.counts[key]++
	m := b.reasons[key]
	if m == nil {
		m = map[string]int64{}
		b.reasons[key] = m
	}
	m[reason]++
}

// series is the bucket history one Evaluate works on: the input processed
// per bucket, and which buckets had traffic at all.
type series struct {
	input    map[int64]int64
	observed []int64 // starts of buckets in which the pipeline ran, ascending
}

// series estimates the input of every bucket from the source offsets its
// dead letters carry: on each source partition, the records between the
// highest offset of the bucket and the highest offset before it. With the
// usual trickle of dead letters this is exact to a few records; a bucket
// without dead letters but with aggregates still counts as traffic.
func (e *Engine) series() series {
	starts := make([]int64, 0, len(e.buckets))
	for k := range e.buckets {
		starts = append(starts, k)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	s := series{input: make(map[int64]int64, len(starts))}
	last := map[source]int64{}
	for _, k := range starts {
		b := e.buckets[k]
		var in int64
		for src, sp := range b.marks {
			prev, ok := last[src]
			switch {
			case !ok:
				in += sp.max - sp.min + 1
			case sp.max > prev:
				in += sp.max - prev
			}
			if !ok || sp.max > prev {
				last[src] = sp.max
			}
		}
		s.input[k] = in
		if in > 0 || b.active {
			s.observed = append(s.observed, k)
		}
	}
	return s
}

// history returns the starts of up to n buckets with traffic before b,
// oldest first.
func (s series) history(b int64, n int) []int64 {
	i := sort.Search(len(s.observed), func(i int) bool { return s.observed[i] >= b })
	return s.observed[max(0, i-n):i]
}

// judgement is one spike rule's look at one bucket.
type judgement struct {
	bucket       int64
	count, input int64
	share, base  float64
	threshold    float64
	history      int
	firing       bool
}

func (e *Engine) share(key string, k int64, s series) (count, input int64, share float64) {
	if b := e.buckets[k]; b != nil {
		count = b.counts[key]
	}
	input = s.input[k]
	if input > 0 {
		share = float64(count) / float64(input)
	}
	return count, input, share
}

// judge compares the share of bucket k with the median share of the
// buckets with traffic before it; too short a history is no verdict.
func (e *Engine) judge(key string, floor int64, multiple float64, k int64, s series) (judgement, bool) {
	hist := s.history(k, e.cfg.BaselineWindows)
	if len(hist) < e.cfg.WarmupBuckets {
		return judgement{}, false
	}
	shares := make([]float64, len(hist))
	for i, h := range hist {
		_, _, shares[i] = e.share(key, h, s)
	}
	j := judgement{bucket: k, base: median(shares), history: len(hist)}
	j.count, j.input, j.share = e.share(key, k, s)
	j.threshold = multiple * j.base
	j.firing = j.count > floor && j.share > j.threshold
	return j, true
}

// spikes judges dlq_spike and late_surge. A spike shows in the last
// complete bucket or already in the current one (a partial bucket whose
// share is over the threshold need not wait for the minute to end).
func (e *Engine) spikes(now time.Time) []Result {
	size := e.cfg.DLQBucket.Milliseconds()
	cur := floorDiv(now.UnixMilli(), size)
	prev := cur - size
	s := e.series()
	keys := map[string]bool{
		DLQSpike + "/" + DimensionMalformed: true, DLQSpike + "/oversized": true,
		DLQSpike + "/future_event": true, LateSurge + "/" + DimensionAll: true,
	}
	for _, b := range e.buckets {
		for k := range b.counts {
			keys[k] = true
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []Result
	for _, key := range names {
		floor, multiple := e.cfg.DLQSpikeFloor, e.cfg.DLQSpikeMultiple
		if strings.HasPrefix(key, LateSurge+"/") {
			floor, multiple = e.cfg.LateFloor, e.cfg.LateMultiple
		}
		jp, okPrev := e.judge(key, floor, multiple, prev, s)
		jc, okCur := e.judge(key, floor, multiple, cur, s)
		var j judgement
		switch {
		case okPrev && okCur && jc.firing && (!jp.firing || jc.share > jp.share):
			j = jc
		case okPrev:
			j = jp
		case okCur:
			j = jc
		default:
			continue // warming up
		}
		out = append(out, e.spikeResult(key, floor, j))
	}
	return out
}

func (e *Engine) spikeResult(key string, floor int64, j judgement) Result {
	rule, dim, _ := strings.Cut(key, "/")
	size := e.cfg.DLQBucket
	from := time.UnixMilli(j.bucket).UTC()
	r := Result{
		Rule: rule, Dimension: dim, Firing: j.firing, Severity: SeverityOf(rule),
		Value: j.share, Baseline: j.base, Threshold: j.threshold,
		ValueText:     fmt.Sprintf("%s of input (%d of ~%d records)", pct(j.share), j.count, j.input),
		BaselineText:  fmt.Sprintf("%s of input (median of %d %s)", pct(j.base), j.history, bucketNoun(size, j.history)),
		ThresholdText: fmt.Sprintf("above %s of input and %d dead letters", pct(j.threshold), floor),
		WindowStart:   from, WindowEnd: from.Add(size),
	}
	what := dim + " dead letters"
	switch {
	case rule == LateSurge:
		r.Title = "Late events dropped"
		what = "late_event dead letters (events past the allowed lateness, missing from their windows; `streamlab dlq replay --reason late_event` heals those within the replay retention)"
	case dim == DimensionMalformed:
		r.Title = "Dead-letter spike: malformed input"
		what = "malformed dead letters (" + breakdown(e.buckets[j.bucket], key) + ")"
	default:
		r.Title = "Dead-letter spike: " + dim
	}
	processed := fmt.Sprintf("%s of the ~%d records processed", pct(j.share), j.input)
	if j.input == 0 {
		// A bucket without input (the producer stopped, an outage): there
		// is no share to speak of, only the absence of dead letters.
		processed = "no records processed"
		r.ValueText = fmt.Sprintf("%d dead letters, no input in the %s", j.count, bucketName(size))
	}
	r.Summary = fmt.Sprintf("%d %s in the %s from %s UTC: %s. Usual share %s (median of the last %d %s with traffic); alert above %s and %d.",
		j.count, what, bucketName(size), clock(from), processed, pct(j.base), j.history, bucketNoun(size, j.history),
		pct(j.threshold), floor)
	return r
}

// breakdown lists the reasons of a dimension, most frequent first.
func breakdown(b *bucket, key string) string {
	if b == nil || len(b.reasons[key]) == 0 {
		return "none"
	}
	type rc struct {
		r string
		n int64
	}
	var rs []rc
	for r, n := range b.reasons[key] {
		rs = append(rs, rc{r, n})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n || (rs[i].n == rs[j].n && rs[i].r < rs[j].r) })
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = fmt.Sprintf("%s %d", x.r, x.n)
	}
	return strings.Join(parts, ", ")
}

// bucketName is "minute" for the default bucket, else its length.
func bucketName(d time.Duration) string {
	if d == time.Minute {
		return "minute"
	}
	return d.String()
}

func bucketNoun(d time.Duration, n int) string {
	s := "bucket"
	if d == time.Minute {
		s = "minute"
	}
	if n != 1 {
		s += "s"
	}
	return s
}
