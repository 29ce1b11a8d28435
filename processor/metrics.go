package processor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the processor's Prometheus series.
type Metrics struct {
	Messages      *prometheus.CounterVec   // by outcome: counted, duplicate, or a dead-letter reason
	Emissions     *prometheus.CounterVec   // by kind: first (revision 1) or revision (an upsert)
	Watermark     *prometheus.GaugeVec     // per partition, Unix seconds
	WatermarkLag  *prometheus.GaugeVec     // per partition, wall clock minus watermark, seconds
	ConsumerLag   *prometheus.GaugeVec     // per partition, messages behind the end of the log
	OpenWindows   *prometheus.GaugeVec     // per partition
	Checkpoint    *prometheus.HistogramVec // checkpoint duration by result
	CheckpointLen prometheus.Gauge         // size of the last checkpoint, bytes
	Assigned      prometheus.Gauge         // partitions owned now
	Restores      *prometheus.CounterVec   // by source: checkpoint or empty
}

// NewMetrics registers the processor's metrics on reg.
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
			Help: "Wall clock minus watermark per source partition."}, part),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_consumer_lag_messages",
			Help: "Messages between the processor's position and the end of the partition."}, part),
		OpenWindows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamlab_processor_open_windows",
			Help: "Windows held in memory per partition (open or still accepting late events)."}, part),
		Checkpoint: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streamlab_processor_checkpoint_duration_seconds",
			Help: "Time to write outputs' checkpoint and commit offsets.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"result"}),
		CheckpointLen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamlab_processor_checkpoint_bytes",
			Help: "Size of the last checkpoint written."}),
		Assigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamlab_processor_assigned_partitions",
			Help: "Source partitions this replica owns."}),
		Restores: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamlab_processor_restores_total",
			Help: "Partition assignments, by where the state came from."}, []string{"from"}),
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.Emissions, m.Watermark, m.WatermarkLag, m.ConsumerLag, m.OpenWindows,
			m.Checkpoint, m.CheckpointLen, m.Assigned, m.Restores)
	}
	return m
}
