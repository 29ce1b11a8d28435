package processor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamlab/streamlab/internal/pipeline"
)

// Metrics are the processor's Prometheus series. Their names are agreed
// with the dashboards (grafana/) and the Prometheus end-to-end test.
type Metrics struct {
	Messages      *prometheus.CounterVec   // by outcome: counted, duplicate, or a dead-letter reason
	Emissions     *prometheus.CounterVec   // by kind: first (revision 1) or revision (an upsert)
	Watermark     *prometheus.GaugeVec     // per partition, Unix seconds
	WatermarkLag  *prometheus.GaugeVec     // per partition, wall clock minus watermark, seconds
	ConsumerLag   *prometheus.GaugeVec     // per partition, messages behind the end of the log
	OpenWindows   *prometheus.GaugeVec     // per partition
	Checkpoint    *prometheus.HistogramVec // checkpoint duration by result
	CheckpointLen *prometheus.GaugeVec     // per partition, size of the last checkpoint, bytes
	CheckpointAge *prometheus.GaugeVec     // per partition, seconds since the last checkpoint
	Assigned      prometheus.Gauge         // partitions owned now
	Restores      *prometheus.CounterVec   // by source: checkpoint or empty
	// Time is where the partition workers spend their time, by activity:
	// fetch_wait (waiting on input), process, output_wait (waiting on the
	// acknowledgement of outputs), checkpoint (building checkpoints).
	Time      *prometheus.CounterVec
	Truncated prometheus.Counter // dead letters whose value was cut to fit the DLQ topic
}

// Activities of Metrics.Time.
const (
	activityFetchWait  = "fetch_wait"
	activityProcess    = "process"
	activityOutputWait = "output_wait"
	activityCheckpoint = "checkpoint"
)

// NewMetrics registers the processor's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	part := []string{"partition"}
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamlab_processor_messages_total",
			Help: "Raw messages processed, by outcome (counted, duplicate or dead-letter reason)."}, []string{"outcome"}),
		Emissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamlab_processor_emissions_total",
			Help: "Aggregate records emitted: first emissions (revision 1) and upsert revisions."}, []string{"kind"}),
		Watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_watermark_seconds",
			Help: "Event-time watermark per source partition, Unix seconds."}, part),
		WatermarkLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_watermark_lag_seconds",
			Help: "Wall clock minus watermark per source partition, refreshed on a timer."}, part),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_consumer_lag_messages",
			Help: "Messages between the processor's position and the end of the partition as last seen by its reader."}, part),
		OpenWindows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_open_windows",
			Help: "Windows held in memory per partition (open or still accepting late events)."}, part),
		Checkpoint: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streamlab_processor_checkpoint_duration_seconds",
			Help: "Time to build and save a checkpoint and commit its offset, by result.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"result"}),
		CheckpointLen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_checkpoint_bytes",
			Help: "Bytes written to the state topic by the last checkpoint, per partition."}, part),
		CheckpointAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_checkpoint_age_seconds",
			Help: "Seconds since the partition's last checkpoint was acknowledged (since its restore before the first), refreshed on a timer."}, part),
		Assigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamlab_processor_assigned_partitions",
			Help: "Source partitions this replica owns."}),
		Restores: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamlab_processor_restores_total",
			Help: "Partition assignments, by where the state came from."}, []string{"from"}),
		Time: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamlab_processor_time_seconds_total",
			Help: "Seconds the partition workers spent, by activity: fetch_wait (waiting on input), process, output_wait (waiting on output acknowledgements), checkpoint."}, []string{"activity"}),
		Truncated: prometheus.NewCounter(prometheus.CounterOpts{Name: "streamlab_processor_dead_letters_truncated_total",
			Help: "Dead letters written with their value cut to fit the DLQ topic (original size and SHA-256 in headers)."}),
	}
	// Every activity exists from the start, so rate() sees a zero, not a gap.
	for _, a := range []string{activityFetchWait, activityProcess, activityOutputWait, activityCheckpoint} {
		m.Time.WithLabelValues(a)
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Emissions, m.Watermark, m.WatermarkLag, m.ConsumerLag, m.OpenWindows,
			m.Checkpoint, m.CheckpointLen, m.CheckpointAge, m.Assigned, m.Restores, m.Time, m.Truncated)
	}
	return m
}

// partitionGauges are every per-partition series, removed when the
// partition leaves this replica.
func (m *Metrics) partitionGauges() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{m.Watermark, m.WatermarkLag, m.ConsumerLag, m.OpenWindows, m.CheckpointLen, m.CheckpointAge}
}

// observer is how Prometheus reads the pipeline (pipeline.Observer): one
// per partition worker, so its cache needs no lock. It passes every call on
// to Config.Observer, if any.
type observer struct {
	m             *Metrics
	outcomes      map[pipeline.Outcome]prometheus.Counter
	first, upsert prometheus.Counter
	next          pipeline.Observer
}

func newObserver(m *Metrics, next pipeline.Observer) *observer {
	return &observer{m: m, outcomes: map[pipeline.Outcome]prometheus.Counter{},
		first: m.Emissions.WithLabelValues("first"), upsert: m.Emissions.WithLabelValues("revision"), next: next}
}

func (o *observer) OnMessage(msg *pipeline.Message, oc pipeline.Outcome) {
	c, ok := o.outcomes[oc]
	if !ok {
		c = o.m.Messages.WithLabelValues(string(oc))
		o.outcomes[oc] = c
	}
	c.Inc()
	if o.next != nil {
		o.next.OnMessage(msg, oc)
	}
}

func (o *observer) OnEmit(partition int32, kind pipeline.EmitKind) {
	if kind == pipeline.FirstEmission {
		o.first.Inc()
	} else {
		o.upsert.Inc()
	}
	if o.next != nil {
		o.next.OnEmit(partition, kind)
	}
}

func (o *observer) OnFlush(partition int32, published int) {
	if o.next != nil {
		o.next.OnFlush(partition, published)
	}
}
