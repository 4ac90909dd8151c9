package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/jackc/pgx/v5"
)

func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, Redis, HAProxy and four processes")
	}
	c := startCluster(t)

	t.Run("copy followed across replicas", func(t *testing.T) {
		digest := pushBig(t, c, "team/app:v1", 2<<20)
		// Round robin usually sends the stream to another replica than the start; other
		// requests can interleave, so a few tries make sure one crosses replicas.
		var started api.JobStarted
		var startedOn, followedOn string
		for attempt := 0; attempt < 5 && (attempt == 0 || startedOn == followedOn); attempt++ {
			started = api.JobStarted{}
			started.ID, startedOn = c.startJob(t, api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "team/app:v1", DestinationRegistry: c.slow})
			var progress int
			var last api.JobEvent
			last, followedOn = follow(t, c.lb+"/api/v1/jobs/"+started.ID+"/events", func(e api.JobEvent) {
				if e.Type == api.EventProgress {
					progress++
				}
			})
			if last.State != api.JobSucceeded || (attempt == 0 && progress == 0) {
				t.Fatalf("final %+v after %d progress events", last, progress)
			}
		}
		if startedOn == followedOn {
			t.Errorf("start and stream both on %s in five tries: the balancer did not spread them", startedOn)
		}
		// Every replica answers the job's status.
		for i, u := range c.direct {
			var j api.Job
			if status, _ := call(t, http.MethodGet, u+"/api/v1/jobs/"+started.ID, nil, &j); status != http.StatusOK || j.State != api.JobSucceeded {
				t.Errorf("replica %d: %d %+v", i, status, j)
			}
		}
		if got := slowTag(t, c, "team/app:v1"); got != digest {
			t.Fatalf("copied tag %q, want %s", got, digest)
		}
	})

	t.Run("cancel from another replica", func(t *testing.T) {
		pushBig(t, c, "team/big:v1", 24<<20)
		id := c.startCopy(t, "team/big:v1", "team/big:v1")
		// Wait for bytes to move, then cancel through the balancer.
		waitFor(t, "upload progress", 30*time.Second, func() bool {
			var j api.Job
			call(t, http.MethodGet, c.lb+"/api/v1/jobs/"+id, nil, &j)
			return j.Done > 0
		})
		var j api.Job
		if status, _ := call(t, http.MethodDelete, c.lb+"/api/v1/jobs/"+id, nil, &j); status != http.StatusAccepted {
			t.Fatalf("cancel: %d", status)
		}
		last, _ := follow(t, c.lb+"/api/v1/jobs/"+id+"/events", nil)
		if last.State != api.JobCancelled {
			t.Fatalf("final %+v, want cancelled", last)
		}
		if got := slowTag(t, c, "team/big:v1"); got != "" {
			t.Fatalf("a cancelled copy left the tag at %s", got)
		}
	})

	t.Run("kill -9 of the replica running a job", func(t *testing.T) {
		// 16 MiB take 4 s at the throttled 4 MiB/s: time to kill the copy mid-blob, and well
		// within --job-timeout for the attempt that resumes it.
		digest := pushBig(t, c, "team/crash:v1", 16<<20)
		id := c.startCopy(t, "team/crash:v1", "team/crash:v1")
		var victim *proc
		waitFor(t, "a replica to run the job", 30*time.Second, func() bool {
			for _, p := range c.replicas {
				if strings.Contains(p.out.String(), `"msg":"job started","job":`+id+`,`) {
					victim = p
					return true
				}
			}
			return false
		})
		waitFor(t, "upload progress", 30*time.Second, func() bool {
			var j api.Job
			call(t, http.MethodGet, c.lb+"/api/v1/jobs/"+id, nil, &j)
			return j.Done > 1<<20
		})
		if err := victim.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-victim.exited
		killed := time.Now()
		t.Logf("killed %s mid-job", victim.name)
		if got := slowTag(t, c, "team/crash:v1"); got != "" {
			t.Fatalf("the tag exists right after the crash: %s", got)
		}
		// A survivor takes it over: River's rescuer (every 30 s, on the leader, which may have
		// to be elected again if the victim was it) finds the job running for longer than
		// --job-timeout + 10 s, makes it retryable, and the copy starts over.
		var j api.Job
		waitFor(t, "the job to end on another replica", 3*time.Minute, func() bool {
			j = api.Job{}
			call(t, http.MethodGet, c.lb+"/api/v1/jobs/"+id, nil, &j)
			return j.State != "" && j.State != api.JobRunning
		})
		var events []api.JobEvent
		last, _ := follow(t, c.lb+"/api/v1/jobs/"+id+"/events", func(e api.JobEvent) { events = append(events, e) })
		got := slowTag(t, c, "team/crash:v1")
		if j.State != api.JobSucceeded || last.State != api.JobSucceeded || got != digest {
			t.Fatalf("after the crash: %s %q, stream ended with %+v, tag %q (want succeeded and %s); events %+v", j.State, j.Error, last, got, digest, events)
		}
		// The stream tells the story: bytes moved on the first attempt, the resume says why,
		// and the sequence runs on without gaps.
		resumedAt := -1
		for i, e := range events {
			if e.Seq != i+1 {
				t.Fatalf("event %d has seq %d: %+v", i, e.Seq, events)
			}
			if e.Type == api.EventMessage && strings.Contains(e.Message, "Resumed on another replica after a crash (attempt 2 of 3)") {
				resumedAt = i
			}
		}
		if resumedAt < 0 {
			t.Fatalf("no resume event in %+v", events)
		}
		progressBefore := false
		for _, e := range events[:resumedAt] {
			progressBefore = progressBefore || (e.Type == api.EventProgress && e.Done > 0)
		}
		if !progressBefore {
			t.Errorf("no progress before the resume: %+v", events[:resumedAt])
		}
		t.Logf("resumed and succeeded %s after the crash", time.Since(killed).Round(time.Second))
	})

	t.Run("notifications recorded once", func(t *testing.T) {
		digest := pushBig(t, c, "team/notified:v1", 1024)
		var list api.EventPage
		waitFor(t, "the push event", 30*time.Second, func() bool {
			list = api.EventPage{}
			call(t, http.MethodGet, c.lb+"/api/v1/events?repository=team/notified&action=push", nil, &list)
			return len(list.Events) > 0
		})
		// Give later deliveries (retries, other replicas' syncs) a chance to duplicate it:
		// wait for two more syncs to run.
		waitSyncs(t, c, 2)
		list = api.EventPage{}
		call(t, http.MethodGet, c.lb+"/api/v1/events?repository=team/notified&action=push", nil, &list)
		n := 0
		for _, e := range list.Events {
			if e.Digest == digest && e.Tag == "v1" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d push events for team/notified:v1, want 1: %+v", n, list.Events)
		}
	})

	t.Run("each periodic job once per period", func(t *testing.T) {
		waitSyncs(t, c, 3)
		conn, err := pgx.Connect(t.Context(), c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(t.Context(), `SELECT args->>'name', unique_key IS NOT NULL, created_at FROM river_job WHERE kind = 'berth_periodic' ORDER BY created_at`)
		if err != nil {
			t.Fatal(err)
		}
		perPeriod := map[string]int{}
		var syncs int
		for rows.Next() {
			var name string
			var unique bool
			var at time.Time
			if err := rows.Scan(&name, &unique, &at); err != nil {
				t.Fatal(err)
			}
			if !unique {
				t.Errorf("periodic job %s at %s has no unique key", name, at)
			}
			if name == "sync" {
				syncs++
				perPeriod[at.Truncate(2*time.Second).String()]++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for p, n := range perPeriod {
			if n > 1 {
				t.Errorf("sync ran %d times in the period from %s", n, p)
			}
		}
		// Runs counted by the replicas themselves match the rows: nobody ran one twice.
		runs := 0
		for _, u := range c.direct {
			runs += syncRuns(u)
		}
		if syncs == 0 || runs > syncs {
			t.Fatalf("%d sync runs on the replicas for %d periodic jobs", runs, syncs)
		}
	})
}

// waitSyncs waits until n more sync runs completed over the live replicas.
func waitSyncs(t testing.TB, c *cluster, n int) {
	t.Helper()
	count := func() int {
		total := 0
		for _, u := range c.direct {
			total += syncRuns(u)
		}
		return total
	}
	from := count()
	waitFor(t, fmt.Sprintf("%d syncs", n), time.Minute, func() bool { return count() >= from+n })
}

// syncRuns reads berth_sync_runs_total from a replica's /metrics (0 when it is down).
func syncRuns(base string) int {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "berth_sync_runs_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(v)
		}
	}
	return total
}
