package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
)

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

// lateNotice is a store whose first read of the tag state comes just before a push's
// notification is recorded: the notification of a push made as the sync started lands while
// it walks the registry.
type lateNotice struct {
	store.Store
	once   sync.Once
	notice store.Event
}

func (s *lateNotice) Tags(ctx context.Context) ([]store.TagRef, error) {
	tags, err := s.Store.Tags(ctx)
	s.once.Do(func() {
		if _, aerr := s.Store.AddEvents(ctx, []store.Event{s.notice}); aerr != nil {
			err = aerr
		}
	})
	return tags, err
}

// TestSyncLeavesNotifiedPushes: a push whose notification is recorded while the sync walks
// the registry is the notification's alone, not a second push event from the sync.
func TestSyncLeavesNotifiedPushes(t *testing.T) {
	st := newStore(t)
	host := startRegistry(t, "")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	tag, _ := name.NewTag(host+"/late/app:v1", name.Insecure)
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	late := &lateNotice{Store: st, notice: store.Event{
		ID: "webhook-1", Timestamp: time.Now().UTC(), Action: store.ActionPush, Repository: "late/app", Tag: "v1",
		Digest: digest.String(), MediaType: "application/vnd.docker.distribution.manifest.v2+json", Source: store.SourceWebhook,
	}}
	syncer, err := events.NewSyncer(events.SyncOptions{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), Store: late})
	if err != nil {
		t.Fatal(err)
	}
	res, err := syncer.Sync(t.Context())
	if err != nil || res.Pushes != 0 {
		t.Fatalf("sync = %+v, %v; want no push of its own", res, err)
	}
	evs, err := st.Events(t.Context(), store.Filter{Repository: "late/app"})
	if err != nil || len(evs) != 1 || evs[0].ID != "webhook-1" {
		t.Fatalf("stored %+v (%v); want the notification's push alone", evs, err)
	}
}
