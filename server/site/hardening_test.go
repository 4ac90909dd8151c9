package site_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// hardened is a site over a real registry, built as main builds it, with the registry's requests
// counted.
type hardened struct {
	down     atomic.Bool // the registry answers 503 to everything
	url      string
	store    store.Store
	requests atomic.Int64
	mu       sync.Mutex
	paths    []string
	gets     atomic.Int64 // cache reads
}

type countingCache struct {
	cache.Cache
	gets *atomic.Int64
}

func (c countingCache) Get(ctx context.Context, key string) ([]byte, bool) {
	c.gets.Add(1)
	return c.Cache.Get(ctx, key)
}

// newBerth starts Berth in front of the registry at upstream, reading with service (nil:
// anonymous) and allowing anonymous writes only when anonWrites.
func newBerth(t *testing.T, upstream string, service authn.Authenticator, anonWrites bool) *hardened {
	t.Helper()
	return newBerthVia(t, upstream, service, anonWrites, true)
}

// newBerthVia is newBerth, reaching the registry through the request counter or, for token
// registries (whose realm must be the registry's own address), directly.
func newBerthVia(t *testing.T, upstream string, service authn.Authenticator, anonWrites, count bool) *hardened {
	t.Helper()
	b := &hardened{}
	target, _ := url.Parse(upstream)
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		if b.down.Load() {
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}`, http.StatusServiceUnavailable)
			return
		}
		b.mu.Lock()
		b.paths = append(b.paths, r.URL.Path)
		b.mu.Unlock()
		r.URL.Scheme, r.URL.Host, r.RequestURI, r.Host = target.Scheme, target.Host, "", target.Host
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(counter.Close)
	via := counter.URL
	if !count {
		via = upstream
	}
	cfg := config.Default()
	cfg.WebDir, cfg.Registry, cfg.AnonymousWrites = t.TempDir(), via, anonWrites
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hardened.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	b.store = st
	reg, err := registry.New(registry.Options{URL: via, Auth: service, PerUser: true, ServiceWrites: anonWrites, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(via)
	px, err := proxy.New(proxy.Options{Upstream: up, Transport: reg.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalog(catalog.Options{Registry: reg, Cache: countingCache{cache.NewLRU(64 << 20), &b.gets}, TagTTL: tagTTL})
	h, err := site.New(site.Services{
		Config: cfg, Version: "test", Registry: reg, Proxy: px, Catalog: cat,
		Sessions: session.New(time.Hour, reg.CheckCredentials, cat.Forget, nil),
		Jobs:     newJobs(t, reg, cat, cfg),
		Activity: events.NewAPI(st, registry.NewAuthorizer(reg, 0)), Authenticator: registry.NewAuthenticator(reg.CheckCredentials),
		Store: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

// tagTTL is the catalog's tag TTL in these tests; 0 means the default.
var tagTTL time.Duration

// call makes a request as user (Basic; "" for anonymous) and returns status and body.
func (b *hardened) call(t *testing.T, method, path, user string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, user+"-password")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func code(body []byte) api.Code {
	var e api.ErrorBody
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

func pushImage(t *testing.T, base, ref string, auth authn.Authenticator) v1.Hash {
	t.Helper()
	img, _ := random.Image(256, 1)
	r, err := name.ParseReference(strings.TrimPrefix(base, "http://")+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d
}

func users(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = n + "-password"
	}
	return m
}

func basic(user string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: user + "-password"}
}

// TestNoAnonymousWritesWithServiceCredentials: with service credentials that could delete,
// an anonymous delete job is refused with 401 before anything reaches the registry, and the
// tag stays; a signed-in user's delete runs with that user's credentials.
func TestNoAnonymousWritesWithServiceCredentials(t *testing.T) {
	up := registryWithUsers(t, "admin")
	pushImage(t, up, "private/app:v1", basic("admin"))
	b := newBerth(t, up, basic("admin"), false)
	before := b.requests.Load()
	status, body := b.call(t, http.MethodPost, "/api/v1/jobs", "", api.JobRequest{Kind: api.JobDelete, Repository: "private/app", References: []string{"v1"}})
	if status != http.StatusUnauthorized || code(body) != api.CodeUnauthorized {
		t.Fatalf("anonymous delete: %d %s, want 401", status, body)
	}
	if n := b.requests.Load() - before; n != 0 {
		t.Errorf("the refused job sent %d requests to the registry", n)
	}
	status, body = b.call(t, http.MethodPost, "/api/v1/jobs", "", api.JobRequest{Kind: api.JobCopy, Source: "private/app:v1", Destination: "copy/app:v1", DestinationRegistry: "http://127.0.0.1:1"})
	if status != http.StatusUnauthorized {
		t.Errorf("anonymous copy out: %d %s, want 401", status, body)
	}
	status, _ = b.call(t, http.MethodGet, "/api/v1/repositories/private/app/tags?details=false", "", nil)
	if status != http.StatusOK {
		t.Errorf("anonymous read with service credentials: %d, want 200", status)
	}
	status, body = b.call(t, http.MethodPost, "/api/v1/jobs", "admin", api.JobRequest{Kind: api.JobDelete, Repository: "private/app", References: []string{"v1"}})
	if status != http.StatusAccepted {
		t.Fatalf("signed-in delete: %d %s, want 202", status, body)
	}
}

// TestCopyToUnlistedRegistryRefused: without --remote-registries no other registry is dialed.
func TestCopyToUnlistedRegistryRefused(t *testing.T) {
	up := registryWithUsers(t, "admin")
	pushImage(t, up, "team/app:v1", basic("admin"))
	b := newBerth(t, up, nil, false)
	b.call(t, http.MethodGet, "/api/v1/session", "admin", nil) // the registry checks admin's credentials once
	before := b.requests.Load()
	status, body := b.call(t, http.MethodPost, "/api/v1/jobs", "admin", api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "x/app:v1", DestinationRegistry: "http://169.254.169.254"})
	if status != http.StatusForbidden || code(body) != api.CodeDenied {
		t.Errorf("copy to an unlisted registry: %d %s, want 403 DENIED", status, body)
	}
	if n := b.requests.Load() - before; n != 0 {
		t.Errorf("the refused copy sent %d requests", n)
	}
}

// TestNamesValidatedAtEveryEntryPoint sends path escapes, bad names and references through
// every API entry point: each is refused with 400 and nothing reaches the registry.
func TestNamesValidatedAtEveryEntryPoint(t *testing.T) {
	up := registryWithUsers(t, "admin")
	b := newBerth(t, up, basic("admin"), true)
	bad := []string{"a/../../admin", "..", "a//b", "UPPER", strings.Repeat("a", 300), "caf%C3%A9", "a%00b", "a%2fb"}
	for _, n := range bad {
		for _, suffix := range []string{"/tags", "/tags?details=false", "/manifests/v1", "/usage"} {
			status, body := b.call(t, http.MethodGet, "/api/v1/repositories/"+n+suffix, "", nil)
			if status != http.StatusBadRequest {
				t.Errorf("GET %s%s: %d %s, want 400", n, suffix, status, body)
			}
		}
	}
	for _, ref := range []string{"..", "../x", "v1%2f..", "sha256:abc", "-x"} {
		status, body := b.call(t, http.MethodGet, "/api/v1/repositories/team/app/manifests/"+ref, "", nil)
		if status != http.StatusBadRequest {
			t.Errorf("manifest %q: %d %s, want 400", ref, status, body)
		}
	}
	jobs := []api.JobRequest{
		{Kind: api.JobDelete, Repository: "a/../../admin/users", References: []string{"v1"}},
		{Kind: api.JobDelete, Repository: "team/app", References: []string{"../../admin"}},
		{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1\x00"}},
		{Kind: api.JobCopy, Source: "a/../b:v1", Destination: "c/d:v1"},
		{Kind: api.JobCopy, Source: "team/app:v1", Destination: "Team/App:v1"},
		{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "../v2"},
		{Kind: api.JobCleanup, Rule: &api.CleanupRule{Repository: "..", KeepLast: 1}},
		{Kind: api.JobCleanup, DryRun: true, Rule: &api.CleanupRule{Repository: "a//b", KeepLast: 1}},
	}
	for _, j := range jobs {
		status, body := b.call(t, http.MethodPost, "/api/v1/jobs", "", j)
		if status != http.StatusBadRequest {
			t.Errorf("job %+v: %d %s, want 400", j, status, body)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.paths {
		if strings.Contains(p, "..") || strings.Contains(p, "admin") || strings.Contains(strings.ToLower(p), "upper") {
			t.Errorf("the registry was asked for %s", p)
		}
	}
}

// TestJobsAreTheirOwners: nobody sees, follows or cancels another user's job; nobody signed
// in is asked to sign in.
func TestJobsAreTheirOwners(t *testing.T) {
	up := registryWithUsers(t, "alice", "bob")
	pushImage(t, up, "team/app:v1", basic("alice"))
	b := newBerth(t, up, nil, false)
	status, body := b.call(t, http.MethodPost, "/api/v1/jobs", "alice", api.JobRequest{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "v2"})
	if status != http.StatusAccepted {
		t.Fatalf("alice's retag: %d %s", status, body)
	}
	var started api.JobStarted
	_ = json.Unmarshal(body, &started)
	var list api.JobList
	_, body = b.call(t, http.MethodGet, "/api/v1/jobs", "bob", nil)
	_ = json.Unmarshal(body, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("bob lists %d jobs, want none of alice's", len(list.Jobs))
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/jobs/" + started.ID},
		{http.MethodGet, "/api/v1/jobs/" + started.ID + "/events"},
		{http.MethodDelete, "/api/v1/jobs/" + started.ID},
	} {
		if status, body := b.call(t, c.method, c.path, "bob", nil); status != http.StatusNotFound || code(body) != api.CodeJobUnknown {
			t.Errorf("bob %s %s: %d %s, want 404", c.method, c.path, status, body)
		}
		// Nobody signed in, who cannot write here, has no jobs: asked to sign in.
		if status, _ := b.call(t, c.method, c.path, "", nil); status != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s: %d, want 401", c.method, c.path, status)
		}
	}
	if status, _ := b.call(t, http.MethodGet, "/api/v1/jobs/"+started.ID, "alice", nil); status != http.StatusOK {
		t.Errorf("alice reads her job: %d", status)
	}
	_, body = b.call(t, http.MethodGet, "/api/v1/jobs", "alice", nil)
	_ = json.Unmarshal(body, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].User != "alice" {
		t.Errorf("alice's list: %+v", list.Jobs)
	}
}

// TestReadsFilteredPerUser: with a registry that lets bob read only bob/, bob sees neither
// alice's events nor her statistics, and cannot learn whether her manifest exists through
// the usage endpoint — even right after alice's own reads filled the caches.
func TestReadsFilteredPerUser(t *testing.T) {
	up := tokenRegistry(t, map[string][]string{"alice": {"alice/"}, "bob": {"bob/"}})
	aliceDigest := pushImage(t, up, "alice/app:v1", basic("admin"))
	pushImage(t, up, "bob/app:v1", basic("admin"))
	b := newBerthVia(t, up, nil, false, false)
	now := time.Now().UTC()
	if _, err := b.store.AddEvents(context.Background(), []store.Event{
		{ID: "e1", Timestamp: now, Action: store.ActionPush, Repository: "alice/app", Tag: "v1", Digest: aliceDigest.String(), Actor: "alice", RequestAddr: "10.0.0.7", MediaType: string(types.OCIManifestSchema1)},
		{ID: "e2", Timestamp: now, Action: store.ActionPush, Repository: "bob/app", Tag: "v1", Digest: "sha256:" + strings.Repeat("b", 64), Actor: "bob", MediaType: string(types.OCIManifestSchema1)},
	}); err != nil {
		t.Fatal(err)
	}
	// alice reads her manifest and its usage: the digest-keyed cache now holds it.
	if status, body := b.call(t, http.MethodGet, "/api/v1/repositories/alice/app/usage?delete="+aliceDigest.String(), "alice", nil); status != http.StatusOK {
		t.Fatalf("alice's usage: %d %s", status, body)
	}
	var page api.EventPage
	status, body := b.call(t, http.MethodGet, "/api/v1/events?kind=all", "bob", nil)
	_ = json.Unmarshal(body, &page)
	if status != http.StatusOK || len(page.Events) != 1 || page.Events[0].Repository != "bob/app" {
		t.Errorf("bob's feed: %d %s, want only bob/app", status, body)
	}
	if status, body := b.call(t, http.MethodGet, "/api/v1/events?repository=alice/app", "bob", nil); status != http.StatusUnauthorized {
		t.Errorf("bob's feed of alice/app: %d %s, want 401", status, body)
	}
	if status, body := b.call(t, http.MethodGet, "/api/v1/stats/alice/app", "bob", nil); status != http.StatusUnauthorized {
		t.Errorf("bob's stats of alice/app: %d %s, want 401", status, body)
	}
	for _, repo := range []string{"alice/app", "bob/app"} {
		status, body := b.call(t, http.MethodGet, "/api/v1/repositories/"+repo+"/usage?delete="+aliceDigest.String(), "bob", nil)
		if status == http.StatusOK || bytes.Contains(body, []byte(`"frees"`)) {
			t.Errorf("bob's usage of alice's manifest via %s: %d %s", repo, status, body)
		}
	}
	if status, _ := b.call(t, http.MethodGet, "/api/v1/repositories/alice/app/manifests/"+aliceDigest.String(), "bob", nil); status != http.StatusUnauthorized {
		t.Errorf("bob reads alice's cached manifest: %d, want 401", status)
	}
}

// TestUsageWalkIsLinear: an index listing one child index 300 times, which lists one image 300
// times, costs what its three distinct manifests cost, not 90,000 visits.
func TestUsageWalkIsLinear(t *testing.T) {
	up := registryWithUsers(t, "admin")
	img, _ := random.Image(128, 1)
	var inner v1.ImageIndex = empty.Index
	for range 300 {
		inner = mutate.AppendManifests(inner, mutate.IndexAddendum{Add: img})
	}
	var outer v1.ImageIndex = empty.Index
	for range 300 {
		outer = mutate.AppendManifests(outer, mutate.IndexAddendum{Add: inner})
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(up, "http://")+"/nested/app:v1", name.Insecure)
	if err := remote.WriteIndex(ref, outer, remote.WithAuth(basic("admin"))); err != nil {
		t.Fatal(err)
	}
	b := newBerth(t, up, basic("admin"), false)
	before := b.gets.Load()
	status, body := b.call(t, http.MethodGet, "/api/v1/repositories/nested/app/usage", "", nil)
	if status != http.StatusOK {
		t.Fatalf("usage: %d %s", status, body)
	}
	if n := b.gets.Load() - before; n > 50 {
		t.Errorf("the usage walk read the cache %d times for 3 distinct manifests", n)
	}
	var u api.Usage
	_ = json.Unmarshal(body, &u)
	if u.Stored <= 0 {
		t.Errorf("usage %+v", u)
	}
}

// TestPathsAndHostsRefused: dot segments and encoded slashes get a JSON 400 (not ServeMux's
// redirect), unknown API paths a JSON 404, a foreign Host header a 400 (DNS rebinding), and
// every answer carries nosniff; UI pages carry a CSP that forbids framing.
func TestPathsAndHostsRefused(t *testing.T) {
	up := registryWithUsers(t, "admin")
	b := newBerth(t, up, nil, false)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/api/v1/repositories/a/../b/tags", "/api//v1/repositories", "/a/./b", "/v2/a/../b/manifests/x", "/api/v1/repositories/a%2fb/tags"} {
		req, _ := http.NewRequest(http.MethodGet, b.url+p, nil)
		req.URL.Opaque = p // send the path as written
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s, want a JSON 400", p, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
	status, body := b.call(t, http.MethodGet, "/api/v1/nothing/here", "", nil)
	if status != http.StatusNotFound || code(body) != api.CodeNotFound {
		t.Errorf("unknown endpoint: %d %s", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, b.url+"/api/v1/session", nil)
	req.Host = "attacker.example:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("foreign Host: %d, want 400", resp.StatusCode)
	}
	for _, h := range []string{"localhost:8080", "127.0.0.1"} {
		req.Host = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %d, want 200", h, resp.StatusCode)
		}
	}
	resp, err = http.Get(b.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q lacks frame-ancestors 'none'", csp)
	}
	_ = fmt.Sprint()
}

// registryWithUsers is an htpasswd registry for the named users (password: NAME-password).
func registryWithUsers(t *testing.T, names ...string) string {
	return registrytest.Htpasswd(t, users(append(names, "admin")...))
}

// tokenRegistry is a token-auth registry where each user in acl may touch only the listed
// repositories; admin may touch everything.
func tokenRegistry(t *testing.T, acl map[string][]string) string {
	names := []string{"admin"}
	for n := range acl {
		names = append(names, n)
	}
	return registrytest.TokenACL(t, users(names...), acl)
}

// TestSlowRegistryAnswersWithinTheTimeout: a registry that stalls makes an API call fail with
// 504 about one --upstream-timeout after it started, not several (retries with backoff, https
// then http) — and a registry body that stalls after its headers counts too.
func TestSlowRegistryAnswersWithinTheTimeout(t *testing.T) {
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/tags/list") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"name":`))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	t.Cleanup(stall.Close)
	const timeout = time.Second
	reg, err := registry.New(registry.Options{URL: stall.URL, PerUser: true, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalog(catalog.Options{Registry: reg})
	cfg := config.Default()
	cfg.UpstreamTimeout = timeout
	mux := http.NewServeMux()
	site.API(mux, site.Services{Config: cfg, Catalog: cat}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, path := range []string{"/api/v1/repositories/team/app/tags?details=false", "/api/v1/repositories/team/app/manifests/v1", "/api/v1/repositories"} {
		start := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusGatewayTimeout || code(body) != api.CodeRegistryTimeout {
			t.Errorf("%s: %d %s, want 504 REGISTRY_TIMEOUT", path, resp.StatusCode, body)
		}
		if took > 3*timeout {
			t.Errorf("%s: took %s with a %s upstream timeout", path, took.Round(time.Millisecond), timeout)
		}
	}
}

// TestActivityThroughARegistryOutage: stored events stay visible while the registry is down,
// to whoever was shown their repositories before.
func TestActivityThroughARegistryOutage(t *testing.T) {
	tagTTL = time.Nanosecond // every read asks the registry again
	t.Cleanup(func() { tagTTL = 0 })
	up := registrytest.Open(t)
	pushImage(t, up, "team/app:v1", authn.Anonymous)
	b := newBerth(t, up, nil, false)
	if _, err := b.store.AddEvents(context.Background(), []store.Event{
		{ID: "e1", Timestamp: time.Now().UTC(), Action: store.ActionPush, Repository: "team/app", Tag: "v1", Digest: "sha256:" + strings.Repeat("a", 64), MediaType: string(types.OCIManifestSchema1)},
	}); err != nil {
		t.Fatal(err)
	}
	feed := func() (int, api.EventPage) {
		status, body := b.call(t, http.MethodGet, "/api/v1/events", "", nil)
		var page api.EventPage
		_ = json.Unmarshal(body, &page)
		return status, page
	}
	if status, page := feed(); status != http.StatusOK || len(page.Events) != 1 {
		t.Fatalf("feed with the registry up: %d %+v", status, page)
	}
	b.down.Store(true)
	if status, page := feed(); status != http.StatusOK || len(page.Events) != 1 || page.Events[0].Repository != "team/app" {
		t.Fatalf("feed with the registry down: %d %+v, want the stored event", status, page)
	}
	if status, body := b.call(t, http.MethodGet, "/api/v1/repositories/team/app/tags?details=false", "", nil); status < 500 {
		t.Errorf("tags with the registry down: %d %s, want a 5xx", status, body)
	}
}
