package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// BenchmarkReplicaJobs measures write jobs through the round-robin balancer against the same
// jobs sent to one replica directly, in the same run: how many jobs start and finish per
// second (one after another: start, follow its progress stream to the end), and how long the
// first progress event takes to arrive after the start request. Through the balancer the
// start, the stream and the worker are usually three different replicas.
func BenchmarkReplicaJobs(b *testing.B) {
	c := startCluster(b)
	pushBig(b, c, "bench/app:v1", 4<<10)
	const jobs = 10
	round := 0
	run := func(base string) (perJob, firstEvent time.Duration) {
		round++
		for i := range jobs {
			start := time.Now()
			var started api.JobStarted
			req := api.JobRequest{Kind: api.JobRetag, Repository: "bench/app", Source: "v1", Destination: fmt.Sprintf("r%d-%d", round, i)}
			if status, _ := call(b, http.MethodPost, base+"/api/v1/jobs", req, &started); status != http.StatusAccepted {
				b.Fatalf("start through %s: %d", base, status)
			}
			var first time.Duration
			last, _ := follow(b, base+"/api/v1/jobs/"+started.ID+"/events", func(api.JobEvent) {
				if first == 0 {
					first = time.Since(start)
				}
			})
			if last.State != api.JobSucceeded {
				b.Fatalf("job %s ended %s: %s", started.ID, last.State, last.Error)
			}
			perJob += time.Since(start)
			firstEvent += first
		}
		return perJob / jobs, firstEvent / jobs
	}
	var direct, lb, directFirst, lbFirst time.Duration
	for range b.N {
		d, df := run(c.direct[0])
		l, lf := run(c.lb)
		direct, lb, directFirst, lbFirst = direct+d, lb+l, directFirst+df, lbFirst+lf
	}
	b.ReportMetric(float64(time.Second)/float64(lb/time.Duration(b.N)), "jobs/s_balanced")
	b.ReportMetric(float64(time.Second)/float64(direct/time.Duration(b.N)), "jobs/s_direct")
	b.ReportMetric(float64(direct)/float64(lb), "rate_x_vs_direct")
	b.ReportMetric(float64(lbFirst/time.Duration(b.N))/float64(time.Millisecond), "first_event_ms_balanced")
	b.ReportMetric(float64(lbFirst)/float64(directFirst), "first_event_x_vs_direct")
}
