package dispatcher

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamlab/streamlab/internal/kafkaio"
)

// Metrics of the lag exporter: a consumer group's lag measured from
// outside it, so that a processor that stopped (or died) still shows its
// lag growing.
const (
	MetricGroupLagMessages = "streamlab_consumer_group_lag_messages"         // {group,topic,partition}
	MetricGroupLagSeconds  = "streamlab_consumer_group_lag_seconds"          // {group,topic,partition}
	MetricLagErrors        = "streamlab_dispatcher_lag_refresh_errors_total" // failed measurements
)

// lagExporter measures a group's lag on a timer and serves the latest
// measurement. Seconds are computed at scrape time (now − timestamp of the
// first unconsumed record), so they keep growing between two refreshes.
type lagExporter struct {
	k        *kafkaIO
	group    string
	topic    string
	interval time.Duration
	clock    func() time.Time
	log      *slog.Logger
	errors   prometheus.Counter
	msgsDesc *prometheus.Desc
	secsDesc *prometheus.Desc
	mu       sync.Mutex
	last     []kafkaio.PartitionLag
}

func newLagExporter(cfg Config, k *kafkaIO, log *slog.Logger) *lagExporter {
	labels := []string{"group", "topic", "partition"}
	return &lagExporter{
		k: k, group: cfg.LagGroup, topic: cfg.LagTopic, interval: cfg.LagInterval, clock: cfg.clock(), log: log,
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricLagErrors,
			Help: "Consumer-group lag measurements that failed (the last good one is still served)."}),
		msgsDesc: prometheus.NewDesc(MetricGroupLagMessages,
			"Records of the topic the group has not consumed: end offset minus committed offset, per partition.", labels, nil),
		secsDesc: prometheus.NewDesc(MetricGroupLagSeconds,
			"Age of the group's first unconsumed record (now minus its timestamp); 0 when caught up.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (l *lagExporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.msgsDesc
	ch <- l.secsDesc
	l.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (l *lagExporter) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	now := l.clock()
	for _, p := range last {
		part := strconv.Itoa(p.Partition)
		ch <- prometheus.MustNewConstMetric(l.msgsDesc, prometheus.GaugeValue, float64(p.Messages), l.group, l.topic, part)
		ch <- prometheus.MustNewConstMetric(l.secsDesc, prometheus.GaugeValue, p.Seconds(now), l.group, l.topic, part)
	}
	l.errors.Collect(ch)
}

// refresh measures once.
func (l *lagExporter) refresh(ctx context.Context, partitions int) error {
	ctx, cancel := context.WithTimeout(ctx, max(l.interval, 10*time.Second))
	defer cancel()
	lag, err := kafkaio.GroupLag(ctx, l.k.brokers, l.group, l.topic, partitions)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.last = lag
	l.mu.Unlock()
	return nil
}

// run refreshes every interval until ctx ends, logging a failure once when
// it starts and once when it heals, not on every tick.
func (l *lagExporter) run(ctx context.Context, partitions int) {
	t := time.NewTicker(l.interval)
	defer t.Stop()
	failing := ""
	for {
		err := l.refresh(ctx, partitions)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.errors.Inc()
			// One line when measuring starts to fail; while it keeps failing
			// (a broker restart alternates between refused connections and
			// missing leaders) other errors go to the debug log only.
			if failing == "" {
				l.mu.Lock()
				served := "serving the last measurement"
				if l.last == nil {
					served = "no lag exported until a measurement succeeds"
				}
				l.mu.Unlock()
				l.log.Warn("cannot measure consumer-group lag; "+served, "group", l.group, "topic", l.topic, "error", err)
			} else if err.Error() != failing {
				l.log.Debug("consumer-group lag still not measurable", "group", l.group, "topic", l.topic, "error", err)
			}
			failing = err.Error()
		case failing != "":
			l.log.Info("measuring consumer-group lag again", "group", l.group, "topic", l.topic)
			failing = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
