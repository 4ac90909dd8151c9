package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/berth-registry/berth/server/access"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

func ref(t *testing.T, base, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(base, "http://")+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// client is a registry client for base, writing without a signed-in user as the CLI does.
func client(t *testing.T, base string) *registry.Client {
	return registrytest.NewClient(t, registry.Options{URL: base})
}

// options returns manager options for the registry at base, reaching any other registry
// (all loopback test registries) with the credentials a request gives.
func options(t *testing.T, base string) Options {
	return Options{Registry: client(t, base), Remote: func(url, username, password string) (*registry.Client, error) {
		var auth authn.Authenticator
		if username != "" {
			auth = &authn.Basic{Username: username, Password: password}
		}
		return registry.New(registry.Options{URL: url, Auth: auth, ServiceWrites: true})
	}}
}

// pushIndex pushes a two-platform index with an SBOM-like referrer attached to it and
// returns the index's and the referrer's digests.
func pushIndex(t *testing.T, base, where string) (v1.Hash, v1.Hash) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(4096, 2)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	r := ref(t, base, where)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, _ := idx.Size()
	sbom, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	sbom = mutate.ConfigMediaType(mutate.MediaType(sbom, types.OCIManifestSchema1), "application/vnd.example.sbom")
	sbom = mutate.Subject(sbom, v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d, Size: size}).(v1.Image)
	sd, err := sbom.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r.Context().Digest(sd.String()), sbom); err != nil {
		t.Fatal(err)
	}
	return d, sd
}

// referrers lists the digests referring to d.
func referrers(t *testing.T, r name.Digest) []string {
	t.Helper()
	idx, err := remote.Referrers(r)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range im.Manifests {
		out = append(out, m.Digest.String())
	}
	return out
}

// newManager returns a started Manager on a fresh SQLite store in a temp dir.
func newManager(t *testing.T, opts Options) *Manager {
	t.Helper()
	if opts.Store == nil {
		st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		opts.Store = st
	}
	if opts.Secret == nil {
		opts.Secret = []byte("a cluster secret for the tests")
	}
	if opts.Authorizer == nil && opts.Registry != nil {
		opts.Authorizer = registry.NewAuthorizer(opts.Registry, 0) // the registry decides
	}
	m, err := NewManager(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

// wait waits for job id to end.
func wait(t *testing.T, m *Manager, id string) api.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := m.Wait(ctx, id)
	if err != nil {
		t.Fatalf("job %s did not end: %v", id, err)
	}
	return info
}

// runJob starts req on m and waits for it to end.
func runJob(t *testing.T, m *Manager, req api.JobRequest) api.Job {
	t.Helper()
	id, err := m.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return wait(t, m, id)
}

func TestCopyIndexWithReferrerWithinAndAcrossRegistries(t *testing.T) {
	a, b := registrytest.Open(t), registrytest.Open(t)
	digest, sbom := pushIndex(t, a, "team/app:v1")
	var invalidated []string
	var recorded []store.Event
	var mu sync.Mutex
	opts := options(t, a)
	m := newManager(t, Options{
		Registry:   opts.Registry,
		Remote:     opts.Remote,
		Invalidate: func(repo, tag string) { mu.Lock(); invalidated = append(invalidated, repo+":"+tag); mu.Unlock() },
		Record: func(_ context.Context, ev []store.Event) error {
			mu.Lock()
			recorded = append(recorded, ev...)
			mu.Unlock()
			return nil
		},
	})

	for _, tc := range []struct {
		name string
		req  api.JobRequest
		dst  string
		base string
	}{
		{"same registry", api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "mirror/app:v1"}, "mirror/app:v1", a},
		{"other registry", api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "imported/app", DestinationRegistry: b}, "imported/app:v1", b},
		{"from other registry", api.JobRequest{Kind: api.JobCopy, SourceRegistry: a, Source: "team/app:v1", Destination: "back/app:v2"}, "back/app:v2", a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := runJob(t, m, tc.req)
			if info.State != api.JobSucceeded {
				t.Fatalf("job %s: %s", info.State, info.Error)
			}
			dst := ref(t, tc.base, tc.dst)
			d, err := remote.Head(dst)
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest != digest {
				t.Errorf("destination digest %s, want %s", d.Digest, digest)
			}
			idx, err := remote.Index(dst)
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			for _, child := range im.Manifests {
				img, err := remote.Image(dst.Context().Digest(child.Digest.String()))
				if err != nil {
					t.Fatalf("platform %s: %v", child.Platform, err)
				}
				if err := validateLayers(img); err != nil {
					t.Errorf("platform %s: %v", child.Platform, err)
				}
			}
			if refs := referrers(t, dst.Context().Digest(digest.String())); !slices.Contains(refs, sbom.String()) {
				t.Errorf("destination referrers %v lack %s", refs, sbom)
			}
			if info.Result == nil || info.Result.Digest != digest.String() || info.Result.Manifests < 4 {
				t.Errorf("result %+v", info.Result)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(invalidated, "mirror/app:v1") || slices.Contains(invalidated, "imported/app:v1") {
		t.Errorf("invalidated %v: want the copies into Berth's registry only", invalidated)
	}
	if len(recorded) != 2 || recorded[0].Action != "copy" || recorded[0].Source != SourceBerth || recorded[0].Digest != digest.String() {
		t.Errorf("recorded %+v", recorded)
	}
}

// validateLayers reads every layer in full, so a missing blob fails.
func validateLayers(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func TestRetag(t *testing.T) {
	a := registrytest.Open(t)
	digest, _ := pushIndex(t, a, "team/app:v1")
	m := newManager(t, options(t, a))
	info := runJob(t, m, api.JobRequest{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "stable"})
	if info.State != api.JobSucceeded {
		t.Fatalf("retag %s: %s", info.State, info.Error)
	}
	d, err := remote.Head(ref(t, a, "team/app:stable"))
	if err != nil || d.Digest != digest {
		t.Fatalf("stable → %v, %v; want %s", d, err, digest)
	}
	// By digest too.
	info = runJob(t, m, api.JobRequest{Kind: api.JobRetag, Repository: "team/app", Source: digest.String(), Destination: "pinned"})
	if info.State != api.JobSucceeded {
		t.Fatalf("retag by digest %s: %s", info.State, info.Error)
	}
}

// pushDated pushes a small image created at the given time under tags.
func pushDated(t *testing.T, base, repo string, created time.Time, tags ...string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: created})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if err := remote.Write(ref(t, base, repo+":"+tag), img); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := img.Digest()
	return d
}

func listTags(t *testing.T, base, repo string) []string {
	t.Helper()
	r, _ := name.NewRepository(strings.TrimPrefix(base, "http://")+"/"+repo, name.Insecure)
	tags, err := remote.List(r)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

func TestCleanupRunDeletesExactlyThePreview(t *testing.T) {
	a := registrytest.Open(t)
	now := time.Now()
	day := 24 * time.Hour
	for i, tag := range []string{"v1", "v2", "v3", "v4", "v5"} {
		pushDated(t, a, "team/app", now.Add(-time.Duration(60-10*i)*day), tag)
	}
	pushDated(t, a, "team/app", now.Add(-90*day), "old-a", "old-b") // one digest, both tags go
	shared := pushDated(t, a, "team/app", now.Add(-80*day), "dev-1", "keep-me")
	pushDated(t, a, "team/app", now.Add(-70*day), "nightly-1")
	pushDated(t, a, "team/app", now.Add(-1*day), "v6")
	before := listTags(t, a, "team/app")

	m := newManager(t, options(t, a))
	rule := api.CleanupRule{Repository: "team/app", KeepLast: 2, OlderThan: "25d", Exclude: `^nightly-`, Keep: []string{"keep-me"}}
	plan, err := m.Preview(context.Background(), rule)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, it := range plan.Delete {
		tags = append(tags, it.Tag)
		if it.Tag == "dev-1" && (it.Manifest || it.Digest != shared.String()) {
			t.Errorf("dev-1 shares its digest with kept keep-me: only the tag may go, got %+v", it)
		}
		if it.Tag == "old-a" && !it.Manifest {
			t.Errorf("old-a and old-b both go: the manifest should be deleted, got %+v", it)
		}
	}
	// Newest first: v6 (1 day) and v5 (20 days) stay by count; v4 (30 days), v3, v2, v1,
	// dev-1 and old-* are older than 25 days; nightly-1 is excluded, keep-me kept by name.
	want := []string{"old-a", "old-b", "dev-1", "v1", "v2", "v3", "v4"}
	if !equalSets(tags, want) {
		t.Fatalf("preview deletes %v, want %v", tags, want)
	}
	if plan.Kept != len(before)-len(want) {
		t.Errorf("kept %d, want %d", plan.Kept, len(before)-len(want))
	}
	if after := listTags(t, a, "team/app"); !slices.Equal(after, before) {
		t.Fatalf("a preview changed the registry: %v → %v", before, after)
	}

	info := runJob(t, m, api.JobRequest{Kind: api.JobCleanup, Rule: &rule})
	if info.State != api.JobSucceeded {
		t.Fatalf("cleanup %s: %s", info.State, info.Error)
	}
	if !equalSets(info.Result.Deleted, tags) {
		t.Errorf("run deleted %v, preview said %v", info.Result.Deleted, tags)
	}
	after := listTags(t, a, "team/app")
	var gone []string
	for _, tg := range before {
		if !slices.Contains(after, tg) {
			gone = append(gone, tg)
		}
	}
	if !equalSets(gone, tags) {
		t.Errorf("the registry lost %v, preview said %v", gone, tags)
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestCleanupRefusesARuleThatDeletesEverything(t *testing.T) {
	if _, err := NewCleanup(client(t, "http://127.0.0.1:1"), api.CleanupRule{Repository: "a/b"}); err == nil {
		t.Fatal("an empty rule was accepted")
	}
	if _, err := NewCleanup(client(t, "http://127.0.0.1:1"), api.CleanupRule{Repository: "a/b", Include: "("}); err == nil {
		t.Fatal("a bad regexp was accepted")
	}
}

func TestDeleteTagsAndDigests(t *testing.T) {
	a := registrytest.Open(t)
	now := time.Now()
	d1 := pushDated(t, a, "team/app", now, "one", "one-alias")
	pushDated(t, a, "team/app", now.Add(-time.Hour), "two")
	pushDated(t, a, "team/app", now.Add(-2*time.Hour), "three")
	del, err := NewDelete(client(t, a), "team/app", []string{d1.String()})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := del.resolve(t.Context())
	if sharing := resolved[d1.String()]; err != nil || !slices.Equal(sharing.Tags, []string{"one", "one-alias"}) {
		t.Fatalf("tags sharing %s: %+v, %v", d1, sharing, err)
	}
	m := newManager(t, options(t, a))
	info := runJob(t, m, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{d1.String(), "two"}})
	if info.State != api.JobSucceeded {
		t.Fatalf("delete %s: %s", info.State, info.Error)
	}
	if got := listTags(t, a, "team/app"); !slices.Equal(got, []string{"three"}) {
		t.Errorf("tags left %v, want [three]", got)
	}
	// Deleting what is gone fails the job but says why.
	info = runJob(t, m, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"two"}})
	if info.State != api.JobFailed || !strings.Contains(info.Error, "There is no tag team/app:two") {
		t.Errorf("deleting a missing tag: %s %q", info.State, info.Error)
	}
}

func TestDeleteRefusedByRegistrySaysSo(t *testing.T) {
	noDelete := func(c *configuration.Configuration) {
		c.Storage["delete"] = configuration.Parameters{"enabled": false}
	}
	a := registrytest.Open(t, noDelete)
	pushDated(t, a, "team/app", time.Now(), "v1")
	m := newManager(t, options(t, a))
	info := runJob(t, m, api.JobRequest{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1"}})
	if info.State != api.JobFailed || !strings.Contains(info.Error, "does not allow deletes") || !strings.Contains(info.Error, "storage.delete.enabled") {
		t.Errorf("delete on a registry without deletes: %s %q", info.State, info.Error)
	}
}

// slowUploads delays every upload body read, so a large copy takes seconds.
func slowUploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch || (r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")) {
			r.Body = &slowReader{r: r.Body, ctx: r.Context()}
		}
		next.ServeHTTP(w, r)
	})
}

type slowReader struct {
	r   io.ReadCloser
	ctx context.Context
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	select {
	case <-time.After(5 * time.Millisecond): // about 12 MiB/s
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }

// serveRegistry starts an embedded registry behind wrap.
func serveRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	return registrytest.Wrapped(t, wrap).URL
}

func TestCancelLargeCopyLeavesNoTag(t *testing.T) {
	a := registrytest.Open(t)
	var sessions sync.Map // upload session URLs the destination opened
	b := serveRegistry(t, func(next http.Handler) http.Handler {
		return slowUploads(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
				if loc := w.Header().Get("Location"); loc != "" {
					sessions.Store(loc, true)
				}
			}
		}))
	})
	big, err := random.Layer(64<<20, types.DockerLayer)
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
	m := newManager(t, options(t, a))
	id, err := m.Submit(context.Background(), api.JobRequest{Kind: api.JobCopy, Source: "big/image:v1", Destination: "big/image:v1", DestinationRegistry: b})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until bytes of the big layer are on their way, then cancel.
	deadline := time.Now().Add(time.Minute)
	for {
		info, _, err := m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != api.JobRunning {
			t.Fatalf("the copy ended (%s) before it could be cancelled", info.State)
		}
		if info.Done > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok, err := m.Cancel(context.Background(), id); !ok || err != nil {
		t.Fatalf("cancel: %v, %v", ok, err)
	}
	if info := wait(t, m, id); info.State != api.JobCancelled {
		t.Fatalf("state %s (%s), want cancelled", info.State, info.Error)
	}
	_, err = remote.Head(ref(t, b, "big/image:v1"))
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("after cancelling, the destination tag answers %v; want 404", err)
	}
	// The upload session of the blob under way was deleted, not left to the registry's purge.
	n := 0
	sessions.Range(func(k, _ any) bool {
		n++
		loc, _ := url.Parse(k.(string))
		resp, err := http.Get(b + loc.RequestURI())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("upload session %s answers %d after the cancel, want 404", loc.Path, resp.StatusCode)
		}
		return true
	})
	if n == 0 {
		t.Error("the destination saw no upload session")
	}
}

func TestEventsStreamLiveInOrderToTheEnd(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Bool
	// The source holds every blob download until released, so the job is mid-way while the
	// test reads its first events.
	a := serveRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
				blocked.Store(true)
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	b := registrytest.Open(t)
	pushDated(t, a, "team/app", time.Now(), "v1")
	m := newManager(t, options(t, a))
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	var started api.JobStarted
	jobJSON(t, http.MethodPost, srv.URL+"/api/v1/jobs", api.JobRequest{Kind: api.JobCopy, Source: "team/app:v1", Destination: "team/app:v1", DestinationRegistry: b}, &started)
	id := started.ID

	resp, err := http.Get(srv.URL + "/api/v1/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events []api.JobEvent
	next := func() api.JobEvent {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("stream ended early: %v (after %+v)", sc.Err(), events)
		}
		var e api.JobEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
		return e
	}
	for e := next(); !(e.Type == api.EventPhase && e.Phase == "blobs"); e = next() {
	}
	// Events arrived while the job still runs: the source holds its blobs.
	var job api.Job
	jobJSON(t, http.MethodGet, srv.URL+"/api/v1/jobs/"+id, nil, &job)
	if job.State != api.JobRunning {
		t.Fatalf("job while blocked: %+v", job)
	}
	close(release)
	last := events[len(events)-1]
	for !last.Final() {
		last = next()
	}
	if sc.Scan() {
		t.Errorf("a line after the final event: %s", sc.Text())
	}
	if last.Type != api.EventResult || last.State != api.JobSucceeded {
		t.Fatalf("final event %+v", last)
	}
	for i, e := range events {
		if e.Seq != i+1 {
			t.Fatalf("event %d has seq %d: %+v", i, e.Seq, events)
		}
	}
	if !blocked.Load() {
		t.Error("the source never blocked a blob download")
	}
	var progress bool
	for _, e := range events {
		progress = progress || (e.Type == api.EventProgress && e.Done == e.Total && e.Total > 0)
	}
	if !progress {
		t.Errorf("no completed blob progress in %+v", events)
	}

	// A second reader gets the same events replayed, and the list shows the outcome.
	var replay []api.JobEvent
	again, err := http.Get(srv.URL + "/api/v1/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Body.Close()
	if _, err := api.ReadJobEvents(again.Body, func(e api.JobEvent) { replay = append(replay, e) }); err != nil {
		t.Fatal(err)
	}
	if len(replay) != len(events) {
		t.Errorf("replay has %d events, live had %d", len(replay), len(events))
	}
	var list api.JobList
	jobJSON(t, http.MethodGet, srv.URL+"/api/v1/jobs", nil, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].State != api.JobSucceeded {
		t.Errorf("jobs %+v", list)
	}
}

// jobJSON sends a request to the jobs API, with body as JSON when not nil, and decodes its
// successful answer into into.
func jobJSON(t *testing.T, method, url string, body, into any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
}

func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	a := registrytest.Open(t)
	m := newManager(t, func() Options { o := options(t, a); o.ReadOnly = true; return o }())
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	rule := &api.CleanupRule{Repository: "team/app", KeepLast: 1}
	for _, req := range []api.JobRequest{
		{Kind: api.JobDelete, Repository: "team/app", References: []string{"v1"}},
		{Kind: api.JobCopy, Source: "team/app:v1", Destination: "x/y:v1"},
		{Kind: api.JobRetag, Repository: "team/app", Source: "v1", Destination: "v2"},
		{Kind: api.JobCleanup, Rule: rule},
		{Kind: api.JobCleanup, Rule: rule, DryRun: true},
	} {
		b, _ := json.Marshal(req)
		resp, err := http.Post(srv.URL+"/api/v1/jobs", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		var body api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || body.Error.Code != api.CodeReadOnly {
			t.Errorf("%s: %d %+v, want 403 READ_ONLY", req.Kind, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/jobs/abc", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cancel: %d, want 403", resp.StatusCode)
	}
}

func TestHandlerRejectsBadRequests(t *testing.T) {
	m := newManager(t, options(t, "http://127.0.0.1:1"))
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	for body, want := range map[string]int{
		`{"kind":"explode"}`: http.StatusBadRequest,
		`{"kind":"copy","source":"UPPER:v1","destination":"x:y"}`: http.StatusBadRequest,
		`{"kind":"delete","repository":"a/b"}`:                    http.StatusBadRequest,
		`{"kind":"copy","sourcePasword":"typo"}`:                  http.StatusBadRequest,
		`not json`:                                                http.StatusBadRequest,
	} {
		resp, err := http.Post(srv.URL+"/api/v1/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", body, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/jobs/nope/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %d", resp.StatusCode)
	}
}

func TestGarbageCollectFreesDeletedBlobs(t *testing.T) {
	dir := t.TempDir()
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	img, err := random.Image(1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := ref(t, srv.URL, "team/app:v1")
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if err := remote.Delete(r.Context().Digest(d.String())); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_ = reg.Close()

	res, err := GarbageCollect(context.Background(), dir, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Freed() < 2<<20 {
		t.Errorf("freed %d bytes of %d, want the two 1 MiB layers", res.Freed(), res.Before)
	}
	if _, err := GarbageCollect(context.Background(), filepath.Join(dir, "nothing"), false, false); err == nil {
		t.Error("gc of a directory without registry storage succeeded")
	}
	_ = os.RemoveAll(dir)
}

// TestHugeJobRequestIsRefused checks that an oversized job body gets 413 and starts nothing.
func TestHugeJobRequestIsRefused(t *testing.T) {
	m := newManager(t, options(t, registrytest.Open(t)))
	srv := httptest.NewServer(jobsHandler(m))
	defer srv.Close()
	body := `{"kind":"delete","repository":"a/b","references":["` + strings.Repeat("x", 2<<20) + `"]}`
	resp, err := http.Post(srv.URL+"/api/v1/jobs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != api.CodeTooLarge {
		t.Fatalf("status %d, %+v, %v; want 413 TOO_LARGE", resp.StatusCode, e, err)
	}
	list, err := http.Get(srv.URL + "/api/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Body.Close()
	var jobs struct{ Jobs []json.RawMessage }
	if err := json.NewDecoder(list.Body).Decode(&jobs); err != nil || len(jobs.Jobs) != 0 {
		t.Fatalf("jobs after a refused request: %d, %v", len(jobs.Jobs), err)
	}
}

// jobsHandler routes the jobs API the way site does.
func jobsHandler(m *Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/jobs", m.ServeStart)
	mux.HandleFunc("GET /api/v1/jobs", m.ServeList)
	mux.HandleFunc("GET /api/v1/jobs/{id}", m.ServeJob)
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", m.ServeEvents)
	mux.HandleFunc("DELETE /api/v1/jobs/{id}", m.ServeCancel)
	return mux
}

// registryAuthorizer is the registry deciding, as without --access-control.
func registryAuthorizer(c *registry.Client) access.Authorizer { return registry.NewAuthorizer(c, 0) }
