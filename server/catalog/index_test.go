package catalog_test

import (
	"context"
	"fmt"
	"github.com/berth-registry/berth/server/access"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// backends runs f against SQLite and PostgreSQL; newDSN gives a fresh database each call.
func backends(t *testing.T, f func(t *testing.T, newDSN func(t *testing.T) string)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, func(t *testing.T) string { return storetest.SQLite(t) })
	})
	t.Run("postgres", func(t *testing.T) {
		pg := storetest.StartPostgres(t)
		f(t, func(t *testing.T) string { return pg.NewDatabase(t) })
	})
}

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// countingRegistry is an embedded registry whose manifest requests and tag lists are counted
// where they arrive, and which may send notifications.
type countingRegistry struct {
	host      string
	manifests atomic.Int64 // GET and HEAD of /manifests/
	lists     atomic.Int64 // tag lists (their first pages)
}

func newCountingRegistry(t *testing.T, opts ...embedded.Option) *countingRegistry {
	t.Helper()
	return countingRegistryAt(t, t.TempDir(), opts...)
}

// countingRegistryAt serves the storage under dir (demo.Populate's, say).
func countingRegistryAt(t *testing.T, dir string, opts ...embedded.Option) *countingRegistry {
	t.Helper()
	reg, err := embedded.New(context.Background(), dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingRegistry{}
	inner := reg.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/manifests/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			c.manifests.Add(1)
		case strings.HasSuffix(r.URL.Path, "/tags/list") && r.URL.Query().Get("last") == "":
			c.lists.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	c.host = strings.TrimPrefix(srv.URL, "http://")
	return c
}

// waitFor polls cond until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func indexedTag(t *testing.T, st store.Store, repo, tag string) (store.IndexedTag, bool) {
	t.Helper()
	rows, err := st.IndexTags(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Tag == tag {
			return r, true
		}
	}
	return store.IndexedTag{}, false
}

// TestIndexFollowsNotifications: a push is described in the index after its notification's
// commit, through the webhook's OnCommit hook (nothing else indexes here), and a delete takes
// it out.
func TestIndexFollowsNotifications(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		st := openStore(t, newDSN(t))
		hook, err := events.NewWebhook(events.Options{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = hook.Close() })
		whSrv := httptest.NewServer(hook)
		t.Cleanup(whSrv.Close)
		reg := newCountingRegistry(t, embedded.WithNotifications("berth", whSrv.URL, nil, 5*time.Second, 100*time.Millisecond))
		svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}), Index: st})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go svc.RunIndexer(ctx)

		var mu sync.Mutex
		committed := map[string]bool{}
		hook.OnCommit(func(evs []store.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				if e.Action == store.ActionPush && e.Tag != "" {
					committed[e.Repository+":"+e.Tag] = true
				}
			}
		})
		hook.OnCommit(svc.IndexEvents)

		img, _ := random.Image(1024, 2)
		img = mutate.ConfigMediaType(img, "application/vnd.oci.image.config.v1+json")
		cfg, _ := img.ConfigFile()
		cfg.Config.Labels = map[string]string{"org.opencontainers.image.title": "pushed"}
		img, _ = mutate.ConfigFile(img, cfg)
		digest := push(t, reg.host, "team/pushed:1.0", img)
		facts := factsOf(t, img)

		waitFor(t, time.Minute, "push notification committed", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return committed["team/pushed:1.0"]
		})
		// Within a minute, not a second: a loaded machine may take seconds to read the manifest.
		waitFor(t, time.Minute, "pushed manifest described in the index", func() bool {
			r, ok := indexedTag(t, st, "team/pushed", "1.0")
			return ok && r.Manifest != nil
		})
		r, _ := indexedTag(t, st, "team/pushed", "1.0")
		if r.Digest != digest.String() || r.Manifest.Kind != "image" || r.Manifest.Size != facts.size || !r.Manifest.Created.Equal(facts.created) {
			t.Fatalf("indexed %+v %+v, want %+v", r.IndexTag, r.Manifest, facts)
		}
		// The label is searchable at once.
		hits, err := st.Search(ctx, "org.opencontainers.image.title=push", 10)
		if err != nil || len(hits) != 1 || hits[0].Tag != "1.0" {
			t.Fatalf("label search = %+v, %v", hits, err)
		}

		// A delete notification takes the tag out of the index.
		if err := remote.Delete(ref(t, reg.host, "team/pushed@"+digest.String())); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "deleted tag gone from the index", func() bool {
			_, ok := indexedTag(t, st, "team/pushed", "1.0")
			return !ok
		})
	})
}

// TestSyncRepairsTheIndex: with no notifications at all, a sync puts a push into the index
// with its details, and takes out a tag deleted since.
func TestSyncRepairsTheIndex(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		st := openStore(t, newDSN(t))
		reg := newCountingRegistry(t)
		client := registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host})
		svc := newCatalog(catalog.Options{Registry: client, Index: st})
		syncer, err := events.NewSyncer(events.SyncOptions{Registry: client, Store: st, Index: svc})
		if err != nil {
			t.Fatal(err)
		}
		img, _ := random.Image(512, 1)
		d1 := push(t, reg.host, "missed/app:1", img)
		img2, _ := random.Image(512, 1)
		d2 := push(t, reg.host, "missed/app:2", img2)
		res, err := syncer.Sync(t.Context())
		if err != nil || res.Indexed != 2 {
			t.Fatalf("sync = %+v, %v; want 2 manifests indexed", res, err)
		}
		r, ok := indexedTag(t, st, "missed/app", "1")
		if !ok || r.Digest != d1.String() || r.Manifest == nil || r.Manifest.Size != factsOf(t, img).size {
			t.Fatalf("after sync: %+v %+v", r.IndexTag, r.Manifest)
		}
		if !syncer.Missed() {
			t.Error("a sync that found unreported pushes says the notifications missed nothing")
		}
		if err := remote.Delete(ref(t, reg.host, "missed/app@"+d2.String())); err != nil {
			t.Fatal(err)
		}
		if _, err := syncer.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, ok := indexedTag(t, st, "missed/app", "2"); ok {
			t.Fatal("a tag deleted without notification is still in the index after a sync")
		}
		if _, ok := indexedTag(t, st, "missed/app", "1"); !ok {
			t.Fatal("the sync dropped a tag that still exists")
		}
		page, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Limit: 10})
		if err != nil || page.Total != 1 || page.Partial || page.Repositories[0].Tags != 1 || page.Repositories[0].Kind != "image" {
			t.Fatalf("catalog from the index = %+v, %v", page, err)
		}
	})
}

// TestRestartedBerthServesFromTheIndex: a new catalog service over the same database (a
// restart, or another replica on the same PostgreSQL) answers a repository page with every
// detail and no manifest request reaching the registry.
func TestRestartedBerthServesFromTheIndex(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		dsn := newDSN(t)
		reg := newCountingRegistry(t)
		const n = 30
		for i := range n {
			img, _ := random.Image(256, 1)
			cfg, _ := img.ConfigFile()
			cfg.OS, cfg.Architecture, cfg.Created = "linux", "arm64", v1.Time{Time: time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC)}
			img, _ = mutate.ConfigFile(img, cfg)
			push(t, reg.host, fmt.Sprintf("big/repo:v%02d", i), img)
		}
		first := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}), Index: openStore(t, dsn)})
		cold, err := first.Tags(t.Context(), "big/repo", catalog.TagQuery{All: true})
		if err != nil || len(cold.Tags) != n {
			t.Fatalf("cold page: %d tags, %v", len(cold.Tags), err)
		}
		if got := reg.manifests.Load(); got < n {
			t.Fatalf("cold page made %d manifest requests, want at least %d", got, n)
		}

		for _, tc := range []struct {
			name    string
			trusted func() bool
			ttl     time.Duration
			heads   int64
		}{
			{"within the tag TTL", nil, time.Hour, 0},
			{"notifications trusted", func() bool { return true }, time.Nanosecond, 0},
			{"untrusted and past the TTL", nil, time.Nanosecond, n},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Its own store handle: a restarted process, or a second replica.
				second := newCatalog(catalog.Options{
					Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + reg.host}),
					Index:    openStore(t, dsn), Trusted: tc.trusted, TagTTL: tc.ttl,
				})
				reg.manifests.Store(0)
				page, err := second.Tags(t.Context(), "big/repo", catalog.TagQuery{All: true})
				if err != nil || len(page.Tags) != n {
					t.Fatalf("page: %d tags, %v", len(page.Tags), err)
				}
				for i, tag := range page.Tags {
					want := cold.Tags[i]
					if tag.Name != want.Name || tag.Digest != want.Digest || tag.Size != want.Size || tag.Size == 0 ||
						!tag.Created.Equal(want.Created) || tag.Created.IsZero() || len(tag.Platforms) != 1 ||
						tag.Platforms[0] != want.Platforms[0] || tag.Kind != "image" || tag.Error != "" {
						t.Fatalf("tag %d = %+v, want %+v", i, tag, want)
					}
				}
				if got := reg.manifests.Load(); got > tc.heads {
					t.Fatalf("%d manifest requests reached the registry, want at most %d", got, tc.heads)
				}
				// Stale rows were answered as they are and are revalidated in the background.
				waitFor(t, time.Minute, "the background revalidation", func() bool { return reg.manifests.Load() == tc.heads })
			})
		}
	})
}

// TestIndexNeverAnswersForSomeoneTheRegistryRefuses: what one user's reads put into the index
// is not shown to a user the registry refuses that repository — not in tags, not in search.
func TestIndexNeverAnswersForSomeoneTheRegistryRefuses(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		base := registrytest.TokenACL(t, map[string]string{"alice": "a", "bob": "b"}, map[string][]string{"bob": {"team/"}})
		host := strings.TrimPrefix(base, "http://")
		alice := authn.FromConfig(authn.AuthConfig{Username: "alice", Password: "a"})
		bob := authn.FromConfig(authn.AuthConfig{Username: "bob", Password: "b"})
		secret, _ := random.Image(256, 1)
		shared, _ := random.Image(256, 1)
		for _, p := range []struct {
			ref string
			img v1.Image
		}{{"secret/app:1.0", secret}, {"team/app:1.0", shared}} {
			r, _ := name.ParseReference(host+"/"+p.ref, name.Insecure)
			if err := remote.Write(r, p.img, remote.WithAuth(alice)); err != nil {
				t.Fatal(err)
			}
		}
		st := openStore(t, newDSN(t))
		svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: base}), Index: st, Trusted: func() bool { return true }})
		aliceCtx := access.With(t.Context(), access.Identity{Kind: access.User, Key: "s-alice", Auth: alice})
		bobCtx := access.With(t.Context(), access.Identity{Kind: access.User, Key: "s-bob", Auth: bob})
		for _, repo := range []string{"secret/app", "team/app"} {
			if page, err := svc.Tags(aliceCtx, repo, catalog.TagQuery{Limit: 10}); err != nil || page.Tags[0].Size == 0 {
				t.Fatalf("alice reads %s: %+v, %v", repo, page, err)
			}
		}
		if r, ok := indexedTag(t, st, "secret/app", "1.0"); !ok || r.Manifest == nil {
			t.Fatal("alice's read did not fill the index")
		}

		_, err := svc.Tags(bobCtx, "secret/app", catalog.TagQuery{Limit: 10})
		if s := status(err); s != http.StatusUnauthorized && s != http.StatusForbidden {
			t.Fatalf("bob reads secret/app from the index: %v", err)
		}
		sd, _ := secret.Digest()
		for _, q := range []string{"app", "1.0", sd.String()[:20]} {
			aliceHits, err := svc.Search(aliceCtx, q, 50)
			if err != nil {
				t.Fatal(err)
			}
			bobHits, err := svc.Search(bobCtx, q, 50)
			if err != nil {
				t.Fatal(err)
			}
			if !hasRepo(aliceHits, "secret/app") {
				t.Errorf("alice's search %q misses secret/app: %+v", q, aliceHits)
			}
			if hasRepo(bobHits, "secret/app") {
				t.Errorf("bob's search %q shows secret/app: %+v", q, bobHits)
			}
			if q != sd.String()[:20] && !hasRepo(bobHits, "team/app") {
				t.Errorf("bob's search %q misses team/app, which he may read: %+v", q, bobHits)
			}
		}
	})
}

func hasRepo(p api.SearchPage, repo string) bool {
	for _, r := range p.Results {
		if r.Repository == repo {
			return true
		}
	}
	return false
}

// TestFirstStartShowsTheFirstCatalogPage: on the very first start the catalog answers as soon
// as the registry's first catalog page is stored, while the rest of the walk goes on.
func TestFirstStartShowsTheFirstCatalogPage(t *testing.T) {
	reg, err := embedded.New(context.Background(), t.TempDir(), embedded.WithCatalogMaxEntries(5))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	inner := reg.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" && r.URL.Query().Get("last") != "" {
			<-release // later pages wait until the test has seen the first
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	host := strings.TrimPrefix(srv.URL, "http://")
	for i := range 12 {
		img, _ := random.Image(64, 1)
		push(t, host, fmt.Sprintf("many/r%02d:1", i), img)
	}
	st := openStore(t, storetest.SQLite(t))
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: srv.URL}), Index: st})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	page, err := svc.Repositories(ctx, catalog.RepositoryQuery{Limit: 100})
	close(release)
	if err != nil || !page.Partial || page.Total != 5 || page.Repositories[0].Name != "many/r00" {
		t.Fatalf("first page = %+v, %v; want the registry's first 5, partial", page, err)
	}
	waitFor(t, time.Minute, "the walk completes", func() bool {
		page, err = svc.Repositories(ctx, catalog.RepositoryQuery{Limit: 100})
		return err == nil && !page.Partial
	})
	if page.Total != 12 {
		t.Fatalf("complete catalog = %d repositories, want 12", page.Total)
	}
}

// TestCatalogByKind: the demo's charts, images and other artifacts, once indexed, are told
// apart by the catalog's kind filter, for Berth's own view (SQL) and a signed-in user's list.
func TestCatalogByKind(t *testing.T) {
	backends(t, func(t *testing.T, newDSN func(t *testing.T) string) {
		st := openStore(t, newDSN(t))
		client := registrytest.NewClient(t, registry.Options{URL: "http://" + seededRegistry(t)})
		svc := newCatalog(catalog.Options{Registry: client, Index: st})
		syncer, err := events.NewSyncer(events.SyncOptions{Registry: client, Store: st, Index: svc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := syncer.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		user := access.With(t.Context(), access.Identity{Kind: access.User, Key: "u", Auth: authn.Anonymous, Name: "u"})
		for _, ctx := range []context.Context{t.Context(), user} {
			names := func(kind string) []string {
				page, err := svc.Repositories(ctx, catalog.RepositoryQuery{Kind: kind, Limit: 1000})
				if err != nil {
					t.Fatalf("kind %s: %v", kind, err)
				}
				var out []string
				for _, r := range page.Repositories {
					if r.Kind != kind {
						t.Errorf("kind %s lists %s of kind %s", kind, r.Name, r.Kind)
					}
					out = append(out, r.Name)
				}
				if page.Total != len(out) {
					t.Errorf("kind %s: total %d for %d rows", kind, page.Total, len(out))
				}
				return out
			}
			charts, images := names("chart"), names("image")
			if !slices.Contains(charts, "charts/web-app") || slices.Contains(charts, "library/alpine") {
				t.Errorf("charts = %v", charts)
			}
			if !slices.Contains(images, "library/alpine") || slices.Contains(images, "charts/web-app") {
				t.Errorf("images = %v", images)
			}
			if len(names("artifact")) == 0 {
				t.Error("no other artifacts in the demo")
			}
		}
		if _, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Kind: "banana", Limit: 10}); !httperr.Is(err, api.CodeBadRequest) {
			t.Errorf("kind banana: %v, want 400", err)
		}
	})
}
