package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

const secret = "s3cret-token"

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// berth is a webhook with its metrics, served by a real HTTP server.
type berth struct {
	hook *events.Webhook
	reg  *prometheus.Registry
	mux  *http.ServeMux
}

func newBerth(t *testing.T, st store.Store, opts events.Options) *berth {
	t.Helper()
	b := &berth{reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	opts.Store, opts.Registerer = st, b.reg
	hook, err := events.NewWebhook(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Close() })
	b.hook = hook
	b.mux.Handle("POST /events", hook)
	b.mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	a := events.NewAPI(st, readAll{})
	b.mux.HandleFunc("GET /api/v1/events", a.ServeEvents)
	b.mux.HandleFunc("GET /api/v1/stats", a.ServeStats)
	b.mux.HandleFunc("GET /api/v1/stats/{repo...}", a.ServeRepositoryStats)
	return b
}

// metric sums every series of a counter or histogram count named name.
func (b *berth) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			}
		}
	}
	return sum
}

// startRegistry runs the embedded registry notifying url, and returns its host:port.
func startRegistry(t *testing.T, notify string) string {
	t.Helper()
	var opts []embedded.Option
	if notify != "" {
		h := http.Header{"Authorization": {"Bearer " + secret}}
		opts = append(opts, embedded.WithNotifications("berth", notify, h, 2*time.Second, 200*time.Millisecond))
	}
	return strings.TrimPrefix(registrytest.Open(t, opts...), "http://")
}

func push(t *testing.T, ref string) v1.Hash {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func find(t *testing.T, st store.Store, f store.Filter, match func(store.Event) bool) (store.Event, bool) {
	t.Helper()
	evs, err := st.Events(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if match(e) {
			return e, true
		}
	}
	return store.Event{}, false
}

// TestRegistryNotifications pushes and pulls through the embedded registry, which notifies a
// real Berth webhook; the events must land with the right action, digest and tag.
func TestRegistryNotifications(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	host := startRegistry(t, web.URL+"/events")

	digest := push(t, host+"/team/app:v1")
	ref, _ := name.ParseReference(host+"/team/app:v1", name.Insecure)
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.RawManifest(); err != nil {
		t.Fatal(err)
	}

	var pushEv store.Event
	waitFor(t, "the push event", time.Minute, func() bool {
		var ok bool
		pushEv, ok = find(t, st, store.Filter{Repository: "team/app", Action: "push", ManifestsOnly: true}, func(e store.Event) bool { return e.Tag == "v1" })
		return ok
	})
	if pushEv.Digest != digest.String() || pushEv.Source != store.SourceWebhook || pushEv.RequestMethod != http.MethodPut {
		t.Errorf("push event = %+v, want digest %s from the webhook", pushEv, digest)
	}
	waitFor(t, "the pull event", time.Minute, func() bool {
		_, ok := find(t, st, store.Filter{Repository: "team/app", Action: "pull", ManifestsOnly: true}, func(e store.Event) bool {
			return e.Digest == digest.String() && e.RequestMethod == http.MethodGet
		})
		return ok
	})
	tags, err := st.Tags(t.Context())
	if err != nil || len(tags) != 1 || tags[0].Repository != "team/app" || tags[0].Tag != "v1" || tags[0].Digest != digest.String() || !tags[0].Updated.Equal(pushEv.Timestamp) {
		t.Errorf("tag state = %+v, %v", tags, err)
	}

	// The read API sees them too.
	resp, err := http.Get(web.URL + "/api/v1/events?repository=team/app")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page api.EventPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Events) < 2 {
		t.Fatalf("api events = %+v, %v", page, err)
	}
	resp2, err := http.Get(web.URL + "/api/v1/stats/team/app?range=7d")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var rs api.RepositoryStats
	if err := json.NewDecoder(resp2.Body).Decode(&rs); err != nil {
		t.Fatal(err)
	}
	if rs.Repository != "team/app" || rs.Bucket != "day" || len(rs.Counts) != 7 || rs.Counts[6].Pushes != 1 || rs.Counts[6].Pulls < 1 || rs.LastPush.IsZero() {
		t.Errorf("repository stats = %+v", rs)
	}
}

func envelope(ids ...string) []byte {
	var evs []map[string]any
	for _, id := range ids {
		evs = append(evs, map[string]any{
			"id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "action": "push",
			"target": map[string]any{
				"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + strings.Repeat("a", 64),
				"size": 100, "repository": "lib/x", "tag": "t-" + id,
				"references": []map[string]any{{"digest": "sha256:" + strings.Repeat("b", 64)}},
			},
			"request": map[string]any{"id": "r", "addr": "10.1.1.1:4000", "method": "PUT", "useragent": "docker/27"},
			"actor":   map[string]any{"name": "alice"},
			"source":  map[string]any{"addr": "reg:5000", "instanceID": "i-1"},
		})
	}
	b, _ := json.Marshal(map[string]any{"events": evs})
	return b
}

func post(t *testing.T, url, contentType, auth string, body []byte) (int, api.ErrorBody) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" {
			t.Errorf("status %d body %q is not an API error", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, eb
}

func count(t *testing.T, st store.Store) int {
	t.Helper()
	evs, err := st.Events(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestDuplicateDelivery(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	env := envelope("dup-1", "dup-2")
	for range 3 {
		if code, _ := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "Bearer "+secret, env); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if n := count(t, st); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
	if d := b.metric(t, "berth_events_duplicates_total"); d != 4 {
		t.Errorf("duplicates metric = %v, want 4", d)
	}
	e, _ := find(t, st, store.Filter{}, func(e store.Event) bool { return e.ID == "dup-1" })
	if e.Actor != "alice" || e.RequestAddr != "10.1.1.1:4000" || e.SourceInstance != "i-1" || len(e.References) != 1 || e.Tag != "t-dup-1" {
		t.Errorf("stored event = %+v", e)
	}
}

func TestRejections(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret, MaxBody: 4096})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	url := web.URL + "/events"
	good := "Bearer " + secret
	big := envelope(strings.Split(strings.Repeat("x,", 40), ",")[:40]...)
	tests := []struct {
		name, contentType, auth string
		body                    []byte
		status                  int
		code                    api.Code
	}{
		{"no token", events.EnvelopeMediaTypeV1, "", envelope("a"), 401, api.CodeUnauthorized},
		{"wrong token", events.EnvelopeMediaTypeV1, "Bearer nope", envelope("a"), 401, api.CodeUnauthorized},
		{"token prefix", events.EnvelopeMediaTypeV1, "Bearer " + secret[:4], envelope("a"), 401, api.CodeUnauthorized},
		{"basic scheme", events.EnvelopeMediaTypeV1, "Basic " + secret, envelope("a"), 401, api.CodeUnauthorized},
		{"too large", events.EnvelopeMediaTypeV1, good, big, 413, api.CodeTooLarge},
		{"media type", "text/plain", good, envelope("a"), 415, api.CodeUnsupportedMediaType},
		{"no media type", "", good, envelope("a"), 415, api.CodeUnsupportedMediaType},
		{"malformed", "application/json", good, []byte(`{"events":[{"id":`), 400, "MALFORMED_ENVELOPE"},
		{"no id", "application/json", good, []byte(`{"events":[{"id":"ok","action":"push"},{"action":"push"}]}`), 400, "MALFORMED_ENVELOPE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, eb := post(t, url, tc.contentType, tc.auth, tc.body)
			if code != tc.status || eb.Error.Code != tc.code {
				t.Errorf("got %d %s, want %d %s", code, eb.Error.Code, tc.status, tc.code)
			}
			if n := count(t, st); n != 0 {
				t.Errorf("%d events stored", n)
			}
		})
	}
	// A chunked body (no Content-Length) over the limit is cut off while read.
	req, _ := http.NewRequest(http.MethodPost, url, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", good)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize: %d", resp.StatusCode)
	}
	if r := b.metric(t, "berth_events_rejected_total"); r != float64(len(tests)+1) {
		t.Errorf("rejected metric = %v, want %d", r, len(tests)+1)
	}
	// v2 envelopes (distribution 3) and parameters on the media type are fine.
	if code, _ := post(t, url, events.EnvelopeMediaTypeV2+"; charset=utf-8", good, envelope("ok")); code != 200 {
		t.Errorf("v2 media type: %d", code)
	}
}

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

// TestSyncer records what a registry without notifications did, idempotently.
func TestSyncer(t *testing.T) {
	st := newStore(t)
	host := startRegistry(t, "")
	d1 := push(t, host+"/s/one:a")
	push(t, host+"/s/one:b")
	d3 := push(t, host+"/s/two:latest")
	reg := prometheus.NewRegistry()
	syncer, err := events.NewSyncer(events.SyncOptions{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host, Concurrency: 2}), Store: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	res, err := syncer.Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushes != 3 || res.Deletes != 0 || res.Repositories != 2 || res.Tags != 3 {
		t.Fatalf("first sync = %+v", res)
	}
	e, ok := find(t, st, store.Filter{Repository: "s/two"}, func(e store.Event) bool { return e.Tag == "latest" })
	if !ok || e.Digest != d3.String() || e.Source != store.SourceSync || e.Action != "push" || !e.Manifest() {
		t.Errorf("synthesized event = %+v", e)
	}
	res, err = syncer.Sync(t.Context())
	if err != nil || res.Pushes+res.Deletes != 0 {
		t.Fatalf("second sync = %+v, %v; want no changes", res, err)
	}

	// Move one tag, delete another's manifest.
	d1b := push(t, host+"/s/one:a")
	ref, _ := name.ParseReference(host+"/s/two@"+d3.String(), name.Insecure)
	if err := remote.Delete(ref, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	res, err = syncer.Sync(t.Context())
	if err != nil || res.Pushes != 1 || res.Deletes != 1 {
		t.Fatalf("third sync = %+v, %v", res, err)
	}
	tags, _ := st.Tags(t.Context())
	var got []string
	for _, tg := range tags {
		got = append(got, tg.Repository+":"+tg.Tag+"@"+tg.Digest[7:19])
	}
	want := []string{"s/one:a@" + d1b.Hex[:12], "s/one:b@" + tags[1].Digest[7:19]}
	if strings.Join(got, " ") != strings.Join(want, " ") || d1b == d1 {
		t.Errorf("tag state = %v, want %v", got, want)
	}
	if n := count(t, st); n != 5 {
		t.Errorf("%d events, want 5", n)
	}
}

// TestBerthsOwnReadsAreNotPulls checks that the registry's pull events for Berth's own reads
// (catalog, tag details, sync: user agent "berth…") are not stored, while users' pulls and
// pushes Berth makes on a user's behalf are.
func TestBerthsOwnReadsAreNotPulls(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	ev := func(id, action, ua string) map[string]any {
		return map[string]any{
			"id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "action": action,
			"target":  map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + strings.Repeat("c", 64), "repository": "lib/y", "tag": "1"},
			"request": map[string]any{"method": "GET", "useragent": ua},
		}
	}
	body, _ := json.Marshal(map[string]any{"events": []map[string]any{
		ev("own-read", "pull", "berth go-containerregistry/v0.22.1"),
		ev("own-sync", "pull", "berth-sync go-containerregistry/v0.22.1"),
		ev("user-pull", "pull", "docker/27.3.1 go/go1.22"),
		ev("berth-copy", "push", "berth go-containerregistry/v0.22.1"),
	}})
	if code, _ := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "Bearer "+secret, body); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	evs, err := st.Events(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	if strings.Join(ids, ",") != "berth-copy,user-pull" {
		t.Fatalf("stored %v, want the user's pull and the push only", ids)
	}
}

// TestSyncRecordsEveryRealChange pushes an image, deletes it, pushes the very same image again
// and deletes it again, with a sync after each step: both deletes (and both pushes) are
// separate changes and must be stored, while syncs repeated before their events are stored
// record nothing twice.
func TestSyncRecordsEveryRealChange(t *testing.T) {
	st := newStore(t)
	host := startRegistry(t, "")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	tag, _ := name.NewTag(host+"/again/app:v1", name.Insecure)
	byDigest, _ := name.NewDigest(host+"/again/app@"+digest.String(), name.Insecure)
	syncer, err := events.NewSyncer(events.SyncOptions{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	// Each step's sync runs twice against the same stored state, as two replicas' syncs (or a
	// sync and its retry) would before either one's events are stored; then both are stored.
	var pending []store.Event
	stale, err := events.NewSyncer(events.SyncOptions{
		Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), Store: st,
		Record: func(_ context.Context, evs []store.Event) error {
			pending = append(pending, evs...)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, change func() error, pushes, deletes int) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		pending = nil
		if _, err := stale.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		res, err := syncer.Sync(t.Context())
		if err != nil || res.Pushes != pushes || res.Deletes != deletes {
			t.Fatalf("sync after %s = %+v, %v; want %d pushes, %d deletes", what, res, err, pushes, deletes)
		}
		added, err := st.AddEvents(t.Context(), pending)
		if err != nil || added != 0 || len(pending) != pushes+deletes {
			t.Fatalf("the repeated sync after %s: %d of %d events new (%v); want the same %d, none new", what, added, len(pending), err, pushes+deletes)
		}
	}
	write := func() error { return remote.Write(tag, img, remote.WithContext(t.Context())) }
	remove := func() error { return remote.Delete(byDigest, remote.WithContext(t.Context())) }
	step("the first push", write, 1, 0)
	step("the first delete", remove, 0, 1)
	step("pushing the same image again", write, 1, 0)
	step("the second delete", remove, 0, 1)

	evs, err := st.Events(t.Context(), store.Filter{Repository: "again/app"})
	if err != nil {
		t.Fatal(err)
	}
	var pushes, deletes int
	for _, e := range evs {
		if e.Digest != digest.String() || e.Tag != "v1" {
			t.Errorf("event %+v is not about again/app:v1@%s", e, digest)
		}
		switch e.Action {
		case store.ActionPush:
			pushes++
		case store.ActionDelete:
			deletes++
		}
	}
	if pushes != 2 || deletes != 2 {
		t.Fatalf("stored %d pushes and %d deletes, want 2 and 2", pushes, deletes)
	}
	if tags, _ := st.Tags(t.Context()); len(tags) != 0 {
		t.Errorf("tag state after the second delete: %+v", tags)
	}
}

// readAll lets every caller read every repository: these tests are about the store, not who
// may read it (the site's and auth's tests cover that).
type readAll struct{}

func (readAll) Authorize(context.Context, string, access.Actions) error { return nil }
func (readAll) Repositories(context.Context) ([]string, error)          { return nil, nil }
func (readAll) Everything(context.Context) (bool, error)                { return true, nil }
