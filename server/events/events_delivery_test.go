package events_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// slowStore makes every commit take a while and counts them, so concurrent deliveries pile up
// behind the writer; hold, when set, runs before the first commit with its events.
type slowStore struct {
	store.Store
	commits atomic.Int64
	hold    func(evs []store.Event)
}

func (s *slowStore) AddEvents(ctx context.Context, evs []store.Event) (int, error) {
	if s.commits.Load() == 0 && s.hold != nil {
		s.hold(evs)
	}
	time.Sleep(20 * time.Millisecond)
	s.commits.Add(1)
	return s.Store.AddEvents(ctx, evs)
}

func TestGroupCommit(t *testing.T) {
	st := &slowStore{Store: newStore(t)}
	b := newBerth(t, st, events.Options{})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	const requests = 40
	// The first commit (of one or more requests, an event each) waits for the other requests
	// to queue: on a loaded machine they may otherwise arrive more than a commit apart and be
	// committed one by one.
	st.hold = func(evs []store.Event) { // on the writer's goroutine: no t.Fatal here
		for deadline := time.Now().Add(time.Minute); b.gauge(t, "berth_events_queued_deliveries") < float64(requests-len(evs)); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%v requests queued behind the first commit after a minute", b.gauge(t, "berth_events_queued_deliveries"))
				return
			}
		}
	}
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			if code, _ := post(t, web.URL+"/events", "application/json", "", envelope(fmt.Sprint("g", i))); code != 200 {
				t.Errorf("request %d: %d", i, code)
			}
		})
	}
	wg.Wait()
	if n := count(t, st); n != requests {
		t.Fatalf("%d events stored, want %d", n, requests)
	}
	commits := st.commits.Load()
	if commits >= requests/2 {
		t.Errorf("%d commits for %d concurrent requests: not batched", commits, requests)
	}
	if m := b.metric(t, "berth_events_commits_total"); m != float64(commits) {
		t.Errorf("commits metric %v, store saw %d", m, commits)
	}
	t.Logf("%d requests in %d commits", requests, commits)
}

// TestWebhookDownThenUp loses the webhook while images are pushed; distribution's retries
// and a sync run must leave no push unrecorded.
func TestWebhookDownThenUp(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret})
	// Until the webhook is up, every delivery's connection is dropped unanswered. (The address
	// stays ours: freeing it and listening again later could find it taken by a parallel test.)
	var up atomic.Bool
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if up.Load() {
			b.mux.ServeHTTP(w, r)
			return
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(web.Close)
	host := startRegistry(t, web.URL+"/events")

	want := map[string]string{}
	for i := range 4 {
		tag := fmt.Sprint("v", i)
		want[tag] = push(t, host+"/down/app:"+tag).String()
	}

	up.Store(true)

	syncer, err := events.NewSyncer(events.SyncOptions{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), Store: st, Record: b.hook.Record})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := syncer.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every push recorded", time.Minute, func() bool {
		for tag, digest := range want {
			if _, ok := find(t, st, store.Filter{Repository: "down/app", Action: "push"}, func(e store.Event) bool {
				return e.Tag == tag && e.Digest == digest
			}); !ok {
				return false
			}
		}
		return true
	})
	// The retries deliver the webhook's own events as well, eventually all of them.
	waitFor(t, "the retried webhook deliveries", time.Minute, func() bool {
		evs, _ := st.Events(t.Context(), store.Filter{Repository: "down/app", Action: "push", ManifestsOnly: true})
		n := 0
		for _, e := range evs {
			if e.Source == store.SourceWebhook {
				n++
			}
		}
		return n == len(want)
	})
	tags, _ := st.Tags(t.Context())
	if len(tags) != len(want) {
		t.Errorf("tag state %+v", tags)
	}
}
