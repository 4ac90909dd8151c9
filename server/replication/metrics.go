package replication

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the berth_replication_* series.
type Metrics struct {
	runs      *prometheus.CounterVec
	artifacts *prometheus.CounterVec
	bytes     prometheus.Counter
	retries   prometheus.Counter
	duration  prometheus.Histogram
}

// NewMetrics registers the series with reg (nil: nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_replication_runs_total",
			Help: "Replication runs ended, by state (succeeded, partial, failed) and trigger."}, []string{"state", "trigger"}),
		artifacts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_replication_artifacts_total",
			Help: "Artifacts (tags) replication copied, deleted, skipped or failed."}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_replication_bytes_total",
			Help: "Blob bytes replication copied."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_replication_retries_total",
			Help: "Artifact attempts retried after a failure."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "berth_replication_run_duration_seconds",
			Help: "How long replication runs took.", Buckets: prometheus.ExponentialBuckets(0.1, 4, 8)}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.artifacts, m.bytes, m.retries, m.duration)
	}
	return m
}
