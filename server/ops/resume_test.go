package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/store"
)

// attemptOfDelete runs one attempt of a delete job the way the worker does: its events go
// to the job's log in the store, and a resumed attempt reads what the ones before recorded.
func attemptOfDelete(ctx context.Context, t *testing.T, st store.Store, job int64, base string, refs []string, resume bool) (*api.JobResult, []string, error) {
	t.Helper()
	log, err := openEventLog(context.Background(), st, job)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDelete(client(t, base), "team/app", refs)
	if err != nil {
		t.Fatal(err)
	}
	d.Durable = log.flush
	if resume {
		d.Resume = true
		if d.Prior, err = recorded(ctx, st, job); err != nil {
			t.Fatal(err)
		}
	}
	var messages []string
	res, runErr := d.Run(ctx, func(e api.JobEvent) {
		log.add(e)
		if e.Type == api.EventMessage {
			messages = append(messages, e.Message)
		}
	})
	// A killed replica writes nothing more: only what was made durable stays.
	if !resume {
		close(log.stop)
		<-log.stopped
	} else if err := log.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return res, messages, runErr
}

// A delete killed midway, resumed an hour later on another replica: what changed in the
// meantime is left alone, what the first attempt did is not done again, a reference that
// never existed fails as it did the first time, and the rest is deleted.
func TestResumedDeleteLeavesAloneWhatChangedAfterTheCrash(t *testing.T) {
	// The registry deletes "two" but the answer never reaches the replica, which is killed
	// then: the attempt's record says it started on two, not that two went.
	var crash atomic.Bool
	inDelete := make(chan struct{}, 1)
	a := serveRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/manifests/two") && crash.Load() {
				next.ServeHTTP(httptest.NewRecorder(), r)
				inDelete <- struct{}{}
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	now := time.Now()
	pushDated(t, a, "team/app", now, "one")
	pushDated(t, a, "team/app", now, "two")
	pushDated(t, a, "team/app", now, "three")
	pushDated(t, a, "team/app", now, "four")
	five := pushDated(t, a, "team/app", now, "five").String()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const job = 7
	refs := []string{"one", "ghost", "two", "three", five}

	// Attempt 1: one goes, ghost fails (it never existed), two is deleted but the replica
	// dies before hearing so.
	crash.Store(true)
	ctx, kill := context.WithCancel(t.Context())
	go func() { <-inDelete; kill() }()
	_, _, err = attemptOfDelete(ctx, t, st, job, a, refs, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("attempt 1 ended with %v, want it killed", err)
	}
	crash.Store(false)
	if got := listTags(t, a, "team/app"); !slices.Equal(got, []string{"five", "four", "three"}) {
		t.Fatalf("after attempt 1 the tags are %v", got)
	}

	// Meanwhile CI pushes one and two again, to new images, and tags five's image "fresh".
	newOne := pushDated(t, a, "team/app", now.Add(time.Minute), "one")
	newTwo := pushDated(t, a, "team/app", now.Add(2*time.Minute), "two")
	img, err := remote.Image(ref(t, a, "team/app@"+five))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, a, "team/app:fresh"), img); err != nil {
		t.Fatal(err)
	}

	res, messages, err := attemptOfDelete(t.Context(), t, st, job, a, refs, true)
	for _, want := range []string{
		"tag two was moved to another image after the crash; left alone",
		"There is no tag team/app:ghost",
		"manifest " + five + " was tagged fresh after the crash; left alone",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("attempt 2 fails with %v; want it to say %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "tag one") {
		t.Errorf("attempt 2 complains about one, which attempt 1 deleted: %v", err)
	}
	if !slices.ContainsFunc(messages, func(m string) bool { return strings.HasSuffix(m, "team/app:one was deleted by the attempt before") }) {
		t.Errorf("attempt 2 does not say one went in attempt 1: %q", messages)
	}
	if res == nil || !slices.Equal(res.Deleted, []string{"one", "three"}) {
		t.Errorf("attempt 2's result %+v, want one (attempt 1) and three deleted", res)
	}
	if got := listTags(t, a, "team/app"); !slices.Equal(got, []string{"five", "four", "fresh", "one", "two"}) {
		t.Errorf("after attempt 2 the tags are %v, want five four fresh one two", got)
	}
	for tag, want := range map[string]string{"one": newOne.String(), "two": newTwo.String()} {
		d, err := remote.Head(ref(t, a, "team/app:"+tag))
		if err != nil || d.Digest.String() != want {
			t.Errorf("%s → %v (%v), want the image pushed after the crash %s", tag, d, err, want)
		}
	}
}

// The resumed delete takes a reference the attempt before had sent the delete of, and that
// nobody pushed again, for gone already.
func TestResumedDeleteTakesWhatTheAttemptBeforeDeletedForGone(t *testing.T) {
	var crash atomic.Bool
	inDelete := make(chan struct{}, 1)
	a := serveRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/manifests/one") && crash.Load() {
				next.ServeHTTP(httptest.NewRecorder(), r)
				inDelete <- struct{}{}
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	pushDated(t, a, "team/app", time.Now(), "one", "two", "three")
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	refs := []string{"one", "two"}
	crash.Store(true)
	ctx, kill := context.WithCancel(t.Context())
	go func() { <-inDelete; kill() }()
	if _, _, err := attemptOfDelete(ctx, t, st, 1, a, refs, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("attempt 1 ended with %v, want it killed", err)
	}
	crash.Store(false)
	res, messages, err := attemptOfDelete(t.Context(), t, st, 1, a, refs, true)
	if err != nil || res == nil || !slices.Equal(res.Deleted, []string{"one", "two"}) {
		t.Fatalf("attempt 2: %+v, %v", res, err)
	}
	if !slices.ContainsFunc(messages, func(m string) bool {
		return strings.HasSuffix(m, "team/app:one is gone already: the attempt before deleted it")
	}) {
		t.Errorf("attempt 2 does not say one was gone: %q", messages)
	}
	if got := listTags(t, a, "team/app"); !slices.Equal(got, []string{"three"}) {
		t.Errorf("tags left %v, want [three]", got)
	}
}

// A retag killed before it moved its tag and resumed after the source tag moved writes the
// image the source pointed at when the job started; one whose destination tag somebody else
// moved meanwhile leaves that tag alone and fails saying so.
func TestResumedRetagWritesTheDigestItStartedWith(t *testing.T) {
	var crash atomic.Bool
	inPut := make(chan struct{}, 1)
	a := serveRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/stable") && crash.Load() {
				_, _ = io.Copy(io.Discard, r.Body) // else the server does not notice the client going
				inPut <- struct{}{}
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m := &Manager{opts: options(t, a)}
	req := api.JobRequest{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "stable"}
	attempt := func(ctx context.Context, job int64, resume bool) (*api.JobResult, []string, error) {
		t.Helper()
		log, err := openEventLog(context.Background(), st, job)
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.newCopy(m.opts.Registry, req)
		if err != nil {
			t.Fatal(err)
		}
		c.Durable = log.flush
		if resume {
			c.Resume = true
			if c.Prior, err = recorded(ctx, st, job); err != nil {
				t.Fatal(err)
			}
		}
		var messages []string
		res, runErr := c.Run(ctx, func(e api.JobEvent) {
			log.add(e)
			if e.Type == api.EventMessage {
				messages = append(messages, e.Message)
			}
		})
		if resume {
			_ = log.close(context.Background())
		} else {
			close(log.stop)
			<-log.stopped
		}
		return res, messages, runErr
	}
	kill := func(job int64) {
		t.Helper()
		crash.Store(true)
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-inPut; cancel() }()
		if _, _, err := attempt(ctx, job, false); !errors.Is(err, context.Canceled) {
			t.Fatalf("attempt 1 ended with %v, want it killed", err)
		}
		crash.Store(false)
	}
	head := func(tag string) string {
		t.Helper()
		d, err := remote.Head(ref(t, a, "team/app:"+tag))
		if err != nil {
			t.Fatal(err)
		}
		return d.Digest.String()
	}

	first := pushDated(t, a, "team/app", time.Now(), "v1").String()
	kill(1)
	moved := pushDated(t, a, "team/app", time.Now().Add(time.Minute), "v1").String()
	res, messages, err := attempt(t.Context(), 1, true)
	if err != nil || res == nil || res.Digest != first || head("stable") != first {
		t.Fatalf("attempt 2: %+v, %v; stable → %s, want %s (v1 when the job started, not %s)", res, err, head("stable"), first, moved)
	}
	if !slices.ContainsFunc(messages, func(m string) bool { return strings.HasPrefix(m, "Copying "+first+", the image") }) {
		t.Errorf("attempt 2 does not say which image it copies: %q", messages)
	}

	kill(2)
	other := pushDated(t, a, "team/app", time.Now().Add(2*time.Minute), "stable").String()
	_, _, err = attempt(t.Context(), 2, true)
	if err == nil || !strings.Contains(err.Error(), "tag ") || !strings.Contains(err.Error(), "team/app:stable was moved to another image after the crash; left alone") {
		t.Errorf("attempt 2 after stable moved: %v", err)
	}
	if got := head("stable"); got != other {
		t.Errorf("stable → %s, want %s, where somebody else moved it", got, other)
	}
}
