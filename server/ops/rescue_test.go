package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/proctest"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// crashSpec is what TestHelperCrashingReplica is told: its store, Berth's registry and
// the job to start.
type crashSpec struct {
	DB       string         `json:"db"`
	Registry string         `json:"registry"`
	Request  api.JobRequest `json:"request"`
	// JobTimeout is the replica's --job-timeout; 0 means a minute.
	JobTimeout time.Duration `json:"jobTimeout"`
}

const crashEnv = "BERTH_OPS_CRASHING_REPLICA"

// TestHelperCrashingReplica is not a test: re-executed with BERTH_OPS_CRASHING_REPLICA set,
// it is a replica that starts one job, prints its id and works on it until killed.
func TestHelperCrashingReplica(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("helper process for TestJobOfAKilledReplicaResumesOnAnother")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), spec.DB)
	if err != nil {
		t.Fatal(err)
	}
	opts := options(t, spec.Registry)
	opts.Store, opts.Secret, opts.JobTimeout = st, []byte("a cluster secret for the tests"), cmp.Or(spec.JobTimeout, time.Minute)
	opts.Authorizer = registryAuthorizer(opts.Registry)
	m, err := NewManager(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id, err := m.Submit(context.Background(), spec.Request)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("job " + id + "\n")
	select {}
}

// crashingReplica runs spec's job in a process of its own and returns the job's id and the
// process, to be killed.
func crashingReplica(t *testing.T, spec crashSpec) (string, *exec.Cmd) {
	t.Helper()
	raw, _ := json.Marshal(spec)
	return proctest.Start(t, "TestHelperCrashingReplica", crashEnv, string(raw), "job ")
}

// jobEvents reads a job's stored events.
func jobEvents(t *testing.T, st store.Store, id int64) []api.JobEvent {
	t.Helper()
	rows, err := st.JobEvents(context.Background(), id, 0, maxEvents+10)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]api.JobEvent, 0, len(rows))
	for _, r := range rows {
		var e api.JobEvent
		if err := json.Unmarshal(r.Data, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// The replica running a job is killed (SIGKILL: no shutdown, the job's row stays
// "running" and an upload session stays open at the destination); another replica's River
// rescues the job and runs it again, and it succeeds, the stream saying so.
func TestJobOfAKilledReplicaResumesOnAnother(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	a := registrytest.Open(t)
	// The copy's destination takes uploads slowly, so the copy is killed mid-blob.
	b := serveRegistry(t, slowUploads)
	big, err := random.Layer(32<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, big)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, a, "big/image:v1"), img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	// Berth's registry for the delete holds the DELETE of "two" until the replica doing it
	// is gone: the delete is killed after "one" went and before "two" did.
	var holdDeletes atomic.Bool
	c := serveRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/manifests/two") && holdDeletes.Load() {
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	now := time.Now()
	pushDated(t, c, "team/app", now, "one")
	pushDated(t, c, "team/app", now.Add(-time.Hour), "two")
	pushDated(t, c, "team/app", now.Add(-2*time.Hour), "three")

	cases := []struct {
		name     string
		registry string
		req      api.JobRequest
		// midway reports whether the job has done part of its work, to be killed then.
		midway func(api.Job, []api.JobEvent) bool
		check  func(t *testing.T, job api.Job, events []api.JobEvent)
	}{
		{
			name: "copy", registry: a,
			req:    api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: b},
			midway: func(j api.Job, _ []api.JobEvent) bool { return j.Done > 2<<20 },
			check: func(t *testing.T, job api.Job, events []api.JobEvent) {
				d, err := remote.Head(ref(t, b, "big/image:v1"))
				if err != nil || d.Digest != digest || job.Result == nil || job.Result.Digest != digest.String() {
					t.Errorf("destination tag %v (%v), result %+v; want %s", d, err, job.Result, digest)
				}
			},
		},
		{
			name: "delete", registry: c,
			req: api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"one", "two"}},
			midway: func(_ api.Job, events []api.JobEvent) bool {
				return slices.ContainsFunc(events, func(e api.JobEvent) bool { return e.Step == api.StepDeleted && e.Ref == "one" })
			},
			check: func(t *testing.T, job api.Job, events []api.JobEvent) {
				if got := listTags(t, c, "team/app"); !slices.Equal(got, []string{"three"}) {
					t.Errorf("tags left %v, want [three]", got)
				}
				if !slices.ContainsFunc(events, func(e api.JobEvent) bool {
					return strings.HasSuffix(e.Message, "team/app:one was deleted by the attempt before")
				}) {
					t.Errorf("the resumed delete does not say that one went in the attempt before: %+v", events)
				}
				if job.Result == nil || !slices.Equal(job.Result.Deleted, []string{"one", "two"}) {
					t.Errorf("result %+v, want one and two deleted", job.Result)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "berth.db")
			st, err := store.OpenSQLite(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			holdDeletes.Store(true)
			sid, proc := crashingReplica(t, crashSpec{DB: db, Registry: tc.registry, Request: tc.req})
			var id int64
			if err := json.Unmarshal([]byte(sid), &id); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for {
				last, err := st.LastJobEvents(t.Context(), []int64{id})
				if err != nil {
					t.Fatal(err)
				}
				if last[id].Final {
					t.Fatalf("the job ended before the replica running it was killed: %s", last[id].Data)
				}
				if tc.midway(api.Job{Done: last[id].Done, Total: last[id].Total}, jobEvents(t, st, id)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the job did not get midway in a minute: %+v", jobEvents(t, st, id))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := proc.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = proc.Wait()
			holdDeletes.Store(false)
			if tc.req.Kind == api.JobCopy {
				// Killed before its last step: no tag.
				_, err := remote.Head(ref(t, b, "big/image:v1"))
				var te *transport.Error
				if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
					t.Fatalf("right after the kill the destination tag answers %v; want 404", err)
				}
			}
			before := len(jobEvents(t, st, id))

			// Time passes as it would before another replica's River acts: the job has run
			// longer than the job timeout plus the rescue margin, and the dead replica's term
			// as leader has expired. (Moving the clock rather than waiting keeps this quick.)
			sqlDB := st.Backend().SQLite
			if _, err := sqlDB.ExecContext(t.Context(), `UPDATE river_job SET attempted_at = strftime('%Y-%m-%d %H:%M:%f', attempted_at, '-2 minutes') WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			if _, err := sqlDB.ExecContext(t.Context(), `UPDATE river_leader SET elected_at = strftime('%Y-%m-%d %H:%M:%f', elected_at, '-2 minutes'), expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 second')`); err != nil {
				t.Fatal(err)
			}

			opts := options(t, tc.registry)
			opts.Store, opts.JobTimeout = st, time.Minute
			m := newManager(t, opts)
			job := wait(t, m, sid)
			events := jobEvents(t, st, id)
			if job.State != api.JobSucceeded {
				t.Fatalf("after the kill: %s %q; events %+v", job.State, job.Error, events)
			}
			for i, e := range events {
				if e.Seq != i+1 {
					t.Fatalf("event %d has seq %d: %+v", i, e.Seq, events)
				}
			}
			resumed := events[before]
			if resumed.Type != api.EventMessage || !strings.HasPrefix(resumed.Message, "Resumed on another replica after a crash (attempt 2 of 3)") {
				t.Errorf("the first event after the kill is %+v, want the resume", resumed)
			}
			if last := events[len(events)-1]; last.State != api.JobSucceeded || last.Type != api.EventResult {
				t.Errorf("final event %+v", last)
			}
			tc.check(t, job, events)
		})
	}
}
