package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestLeaseLapseHandsOnAKilledReplicasJob runs two replicas on one store with an hour's job
// timeout and kills (SIGKILL) the one running a copy: the other takes the job over once its
// lease lapsed, without any clock moved — in a small part of the job timeout — and finishes it.
func TestLeaseLapseHandsOnAKilledReplicasJob(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	a := registrytest.Open(t)
	b := serveRegistry(t, slowUploads) // the copy is killed mid-blob
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
	db := filepath.Join(t.TempDir(), "berth.db")
	st, err := store.OpenSQLite(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const jobTimeout = time.Hour
	req := api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: b}
	sid, proc := crashingReplica(t, crashSpec{DB: db, Registry: a, Request: req, JobTimeout: jobTimeout})
	var id int64
	if err := json.Unmarshal([]byte(sid), &id); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		last, err := st.LastJobEvents(t.Context(), []int64{id})
		if err != nil {
			t.Fatal(err)
		}
		if last[id].Final {
			t.Fatalf("the job ended before the replica running it was killed: %s", last[id].Data)
		}
		if last[id].Done > 2<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy did not get midway in a minute")
		}
	}
	// The other replica runs before the kill, as in a cluster; it starts only now, so that
	// the job is the killed one's.
	opts := options(t, a)
	opts.Store, opts.JobTimeout = st, jobTimeout
	m := newManager(t, opts)
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	killed := time.Now()
	job := wait(t, m, sid)
	took := time.Since(killed)
	if job.State != api.JobSucceeded {
		t.Fatalf("after the kill: %s %q", job.State, job.Error)
	}
	if !slices.ContainsFunc(jobEvents(t, st, id), func(e api.JobEvent) bool {
		return strings.HasPrefix(e.Message, "Resumed on another replica after a crash")
	}) {
		t.Error("the stream does not say the job resumed on another replica")
	}
	if took > jobTimeout/20 {
		t.Errorf("taken over and finished %s after the kill, more than a twentieth of the %s job timeout", took, jobTimeout)
	}
	t.Logf("taken over and finished %s after the kill", took.Round(time.Second))
}

// TestRenewJobLease renews the lease of a running copy on SQLite and PostgreSQL: the running
// attempt's renewal takes, another attempt's does not.
func TestRenewJobLease(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "berth.db")
			if kind == "postgres" {
				dsn = storetest.StartPostgres(t).NewDatabase(t)
			}
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			a := registrytest.Open(t)
			b := serveRegistry(t, slowUploads)
			big, _ := random.Layer(8<<20, types.DockerLayer)
			img, _ := mutate.AppendLayers(empty.Image, big)
			if err := remote.Write(ref(t, a, "big/image:v1"), img); err != nil {
				t.Fatal(err)
			}
			opts := options(t, a)
			opts.Store = st
			m := newManager(t, opts)
			sid, err := m.Submit(t.Context(), api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: b})
			if err != nil {
				t.Fatal(err)
			}
			var id int64
			_ = json.Unmarshal([]byte(sid), &id)
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
				if ok, err := st.RenewJobLease(t.Context(), id, 1); err != nil {
					t.Fatal(err)
				} else if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the job's lease was never renewable: it did not run")
				}
			}
			if ok, err := st.RenewJobLease(t.Context(), id, 2); err != nil || ok {
				t.Errorf("renewing an attempt that does not run: %v %v", ok, err)
			}
		})
	}
}

// TestJobOutlivesRiversDeadline runs a copy for many lease terms: River's deadline (the lease
// term) does not cut it, and it succeeds in its first attempt.
func TestJobOutlivesRiversDeadline(t *testing.T) {
	a := registrytest.Open(t)
	b := serveRegistry(t, slowUploads)
	big, _ := random.Layer(32<<20, types.DockerLayer)
	img, _ := mutate.AppendLayers(empty.Image, big)
	if err := remote.Write(ref(t, a, "big/image:v1"), img); err != nil {
		t.Fatal(err)
	}
	opts := options(t, a)
	opts.lease = time.Second
	m := newManager(t, opts)
	start := time.Now()
	job := runJob(t, m, api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: b})
	took := time.Since(start)
	if job.State != api.JobSucceeded {
		t.Fatalf("%s %q", job.State, job.Error)
	}
	var id int64
	_ = json.Unmarshal([]byte(job.ID), &id)
	if slices.ContainsFunc(jobEvents(t, m.store, id), func(e api.JobEvent) bool { return strings.HasPrefix(e.Message, "Resumed") }) {
		t.Error("the job was handed on although its replica renewed the lease")
	}
	if took < 3*opts.lease {
		t.Errorf("the copy took %s, under three lease terms: it proves nothing", took)
	}
}
