package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// newRegistry serves a fresh embedded registry over HTTP and returns its host:port.
func newRegistry(t *testing.T) string {
	t.Helper()
	return strings.TrimPrefix(registrytest.Open(t), "http://")
}

// seeded is a registry holding the demo content, started and seeded once for the whole
// package by TestMain: the tests that use it only read.
var seeded string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "berth-catalog-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		reg, err := embedded.New(context.Background(), dir)
		if err != nil {
			panic(err)
		}
		defer reg.Close()
		srv := httptest.NewServer(reg.Handler())
		defer srv.Close()
		seeded = strings.TrimPrefix(srv.URL, "http://")
		if err := demo.Seed(context.Background(), seeded); err != nil {
			panic(err)
		}
		return m.Run()
	}())
}

// seededRegistry returns the package's demo registry; tests must not change it.
func seededRegistry(t *testing.T) string {
	t.Helper()
	return seeded
}

// newService returns a Service for the registry at host whose requests go through rt (nil:
// the default transport).
func newService(t *testing.T, host string, rt http.RoundTripper, concurrency int) *catalog.Service {
	t.Helper()
	svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host, Transport: rt, Concurrency: concurrency})})
	return svc
}

// recorder is a RoundTripper that records every request to the registry, tracks how many
// are in flight at once, and can fail chosen requests.
type recorder struct {
	base  http.RoundTripper
	delay time.Duration
	fail  func(*http.Request) bool

	inFlight    atomic.Int64
	maxInFlight atomic.Int64

	mu       sync.Mutex
	requests []string // "METHOD /path"
}

func newRecorder() *recorder { return &recorder{base: http.DefaultTransport} }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.maxInFlight.Load()
		if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	r.mu.Lock()
	r.requests = append(r.requests, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	if r.fail != nil && r.fail(req) {
		return &http.Response{
			Status:     "500 Internal Server Error",
			StatusCode: http.StatusInternalServerError,
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{},
			Body:    io.NopCloser(strings.NewReader("")),
			Request: req,
		}, nil
	}
	return r.base.RoundTrip(req)
}

// reset forgets the requests recorded so far and the in-flight maximum.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
	r.maxInFlight.Store(0)
}

// total returns how many requests were recorded.
func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

// count returns how many recorded requests had method and a path containing part.
func (r *recorder) count(method, part string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.requests {
		m, path, _ := strings.Cut(q, " ")
		if m == method && strings.Contains(path, part) {
			n++
		}
	}
	return n
}

// ref parses a reference to the registry at host.
func ref(t *testing.T, host, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func push(t *testing.T, host, s string, img v1.Image) v1.Hash {
	t.Helper()
	if err := remote.Write(ref(t, host, s), img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", s, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// imageFacts is what the catalog should report for one image, read directly with ggcr.
type imageFacts struct {
	digest   string
	size     int64 // config plus layers
	created  time.Time
	platform string
}

func factsOf(t *testing.T, img v1.Image) imageFacts {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	p := api.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	return imageFacts{digest: d.String(), size: size, created: cf.Created.Time, platform: p.String()}
}

// platformFacts reads every image of the index at s (repo:tag), in index order.
func platformFacts(t *testing.T, host, s string) []imageFacts {
	t.Helper()
	idx, err := remote.Index(ref(t, host, s), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("read index %s: %v", s, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []imageFacts
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		f := factsOf(t, img)
		f.platform = d.Platform.String()
		out = append(out, f)
	}
	return out
}

func headDigest(t *testing.T, host, s string) string {
	t.Helper()
	d, err := remote.Head(ref(t, host, s), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("head %s: %v", s, err)
	}
	return d.Digest.String()
}

// tagNamed returns the tag called name from page, failing the test if it is missing.
func tagNamed(t *testing.T, page api.TagPage, name string) api.Tag {
	t.Helper()
	for _, tag := range page.Tags {
		if tag.Name == name {
			return tag
		}
	}
	t.Fatalf("tag %q not in page %+v", name, page)
	return api.Tag{}
}

// coldTag describes one tag with a fresh Service, so nothing comes from a cache and no other
// tag of the same page shares its digest.
func coldTag(t *testing.T, host, repo, tag string) api.Tag {
	t.Helper()
	names, err := remote.List(ref(t, host, repo).Context(), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("list %s: %v", repo, err)
	}
	slices.Sort(names)
	i := slices.Index(names, tag)
	if i < 0 {
		t.Fatalf("%s has no tag %s: %q", repo, tag, names)
	}
	page, err := newService(t, host, nil, 4).Tags(t.Context(), repo, catalog.TagQuery{Offset: i, Limit: 1})
	if err != nil {
		t.Fatalf("Tags(%s, %d, 1): %v", repo, i, err)
	}
	if len(page.Tags) != 1 || page.Total != len(names) {
		t.Fatalf("Tags(%s, %d, 1) = %d tags of %d, want 1 of %d", repo, i, len(page.Tags), page.Total, len(names))
	}
	return tagNamed(t, page, tag)
}

func tags(t *testing.T, svc *catalog.Service, repo string) api.TagPage {
	t.Helper()
	page, err := svc.Tags(t.Context(), repo, catalog.TagQuery{Offset: 0, Limit: 1000})
	if err != nil {
		t.Fatalf("Tags(%s): %v", repo, err)
	}
	return page
}

func platformNames(ps []api.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// wantHTTPError fails the test unless err is an *httperr.Error with the given status.
func wantHTTPError(t *testing.T, err error, status int, code api.Code) {
	t.Helper()
	var he *httperr.Error
	if !errors.As(err, &he) {
		t.Fatalf("error = %v (%T), want an *httperr.Error with status %d", err, err, status)
	}
	if he.Status != status || he.Code != code {
		t.Fatalf("error status, code = %d, %s; want %d, %s (%v)", he.Status, he.Code, status, code, err)
	}
	if he.Message == "" {
		t.Fatalf("error %v has no message for the user", err)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	host := seededRegistry(t)
	all := demo.Repositories()
	if len(all) < 5 {
		t.Fatalf("demo.Repositories() = %q, too few for the paging cases", all)
	}

	t.Run("repositories", func(t *testing.T) {
		svc := newService(t, host, nil, 4)
		filter := func(part string) []string {
			var out []string
			for _, n := range all {
				if strings.Contains(n, part) {
					out = append(out, n)
				}
			}
			return out
		}
		tests := []struct {
			name          string
			q             string
			offset, limit int
			want          []string
			total         int
		}{
			{name: "all", limit: 100, want: all, total: len(all)},
			{name: "substring", q: "alpine", limit: 100, want: []string{"library/alpine"}, total: 1},
			{name: "case-insensitive", q: "ALPine", limit: 100, want: []string{"library/alpine"}, total: 1},
			{name: "spaces trimmed", q: "  library/ ", limit: 100, want: filter("library/"), total: len(filter("library/"))},
			{name: "nested path", q: "api/", limit: 100, want: filter("api/"), total: len(filter("api/"))},
			{name: "no match", q: "does-not-exist", limit: 100, want: nil, total: 0},
			{name: "first page", limit: 2, want: all[:2], total: len(all)},
			{name: "second page", offset: 2, limit: 2, want: all[2:4], total: len(all)},
			{name: "last partial page", offset: len(all) - 1, limit: 5, want: all[len(all)-1:], total: len(all)},
			{name: "past the end", offset: len(all) + 3, limit: 5, want: nil, total: len(all)},
			{name: "filtered page", q: "library/", offset: 1, limit: 2, want: filter("library/")[1:3], total: len(filter("library/"))},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Query: tt.q, Offset: tt.offset, Limit: tt.limit})
				if err != nil {
					t.Fatalf("Repositories: %v", err)
				}
				var got []string
				for _, r := range page.Repositories {
					got = append(got, r.Name)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("names = %q, want %q", got, tt.want)
				}
				if page.Repositories == nil {
					t.Error("Repositories is nil, want an empty list so the JSON says []")
				}
				if page.Total != tt.total || page.Offset != tt.offset || page.Limit != tt.limit || page.Query != tt.q {
					t.Errorf("page = total %d offset %d limit %d query %q; want %d %d %d %q",
						page.Total, page.Offset, page.Limit, page.Query, tt.total, tt.offset, tt.limit, tt.q)
				}
				if page.Updated.IsZero() || time.Since(page.Updated) > time.Minute {
					t.Errorf("Updated = %v, want the time of the catalog read", page.Updated)
				}
			})
		}
	})

	t.Run("index", func(t *testing.T) {
		tests := []struct {
			repo, tag string
			alias     string // another tag at the same digest
			mediaType types.MediaType
			platforms []string
		}{
			{"library/alpine", "3.21", "latest", types.OCIImageIndex, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}},
			{"library/nginx", "1.27-alpine", "latest", types.DockerManifestList, []string{"linux/amd64", "linux/arm64"}},
		}
		for _, tt := range tests {
			t.Run(tt.repo, func(t *testing.T) {
				tag, alias := coldTag(t, host, tt.repo, tt.tag), coldTag(t, host, tt.repo, tt.alias)
				if tag.Error != "" {
					t.Fatalf("%s has error %q", tt.tag, tag.Error)
				}
				if want := headDigest(t, host, tt.repo+":"+tt.tag); tag.Digest != want {
					t.Errorf("Digest = %s, want %s", tag.Digest, want)
				}
				if !reflect.DeepEqual(tag, api.Tag{Name: tag.Name, Digest: alias.Digest, MediaType: alias.MediaType, Kind: alias.Kind,
					Size: alias.Size, Created: alias.Created, Platforms: alias.Platforms, Attestations: alias.Attestations}) || alias.Name != tt.alias {
					t.Errorf("%s and %s differ:\n%+v\n%+v", tt.tag, tt.alias, tag, alias)
				}
				if tag.Kind != "index" || tag.MediaType != string(tt.mediaType) {
					t.Errorf("Kind, MediaType = %q, %q; want index, %q", tag.Kind, tag.MediaType, tt.mediaType)
				}
				if got := platformNames(tag.Platforms); !slices.Equal(got, tt.platforms) {
					t.Fatalf("platforms = %q, want %q", got, tt.platforms)
				}
				if tag.Attestations != 0 || tag.ArtifactType != "" {
					t.Errorf("Attestations, ArtifactType = %d, %q; want none", tag.Attestations, tag.ArtifactType)
				}
				want := platformFacts(t, host, tt.repo+":"+tt.tag)
				var sum int64
				var newest time.Time
				for i, p := range tag.Platforms {
					if p.Size <= 0 || p.Created.IsZero() {
						t.Errorf("%s: Size %d, Created %v; want both set", p, p.Size, p.Created)
					}
					if p.Digest != want[i].digest || !p.Created.Equal(want[i].created) {
						t.Errorf("%s: Digest %s, Created %v; want %s, %v", p, p.Digest, p.Created, want[i].digest, want[i].created)
					}
					// The platform's size covers at least its config and layers.
					if p.Size < want[i].size {
						t.Errorf("%s: Size %d, smaller than config plus layers %d", p, p.Size, want[i].size)
					}
					sum += p.Size
					if p.Created.After(newest) {
						newest = p.Created
					}
				}
				if tag.Size != sum {
					t.Errorf("Size = %d, want the sum of the platforms %d", tag.Size, sum)
				}
				if !tag.Created.Equal(newest) {
					t.Errorf("Created = %v, want the newest platform's %v", tag.Created, newest)
				}
			})
		}
	})

	t.Run("image", func(t *testing.T) {
		tests := []struct {
			repo, tag string
			mediaType types.MediaType
		}{
			{"library/alpine", "3.20", types.DockerManifestSchema2},
			{"library/postgres", "17", types.DockerManifestSchema2},
			{"library/redis", "7.4", types.OCIManifestSchema1},
			{"team/api/server", "v1.2.0", types.OCIManifestSchema1},
		}
		for _, tt := range tests {
			t.Run(tt.repo+":"+tt.tag, func(t *testing.T) {
				img, err := remote.Image(ref(t, host, tt.repo+":"+tt.tag), remote.WithContext(t.Context()))
				if err != nil {
					t.Fatal(err)
				}
				want := factsOf(t, img)
				tag := coldTag(t, host, tt.repo, tt.tag)
				if tag.Error != "" {
					t.Fatalf("error %q", tag.Error)
				}
				if tag.Kind != "image" || tag.MediaType != string(tt.mediaType) || tag.Digest != want.digest {
					t.Errorf("Kind, MediaType, Digest = %q, %q, %s; want image, %q, %s", tag.Kind, tag.MediaType, tag.Digest, tt.mediaType, want.digest)
				}
				if tag.Size != want.size {
					t.Errorf("Size = %d, want config plus layers %d", tag.Size, want.size)
				}
				if !tag.Created.Equal(want.created) || tag.Created.IsZero() {
					t.Errorf("Created = %v, want %v", tag.Created, want.created)
				}
				wantPlatform := api.Platform{OS: "linux", Architecture: "amd64", Digest: want.digest, Size: want.size, Created: want.created}
				if len(tag.Platforms) != 1 || !reflect.DeepEqual(tag.Platforms[0], wantPlatform) {
					t.Errorf("Platforms = %+v, want [%+v]", tag.Platforms, wantPlatform)
				}
			})
		}
	})

	t.Run("tag paging", func(t *testing.T) {
		svc := newService(t, host, nil, 4)
		all := []string{"15", "16", "16.4", "17", "17.2", "latest"}
		tests := []struct {
			offset, limit int
			want          []string
		}{
			{0, 100, all},
			{0, 2, all[:2]},
			{1, 2, all[1:3]},
			{3, 10, all[3:]},
			{5, 1, all[5:]},
			{6, 10, nil},
			{50, 10, nil},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("offset %d limit %d", tt.offset, tt.limit), func(t *testing.T) {
				page, err := svc.Tags(t.Context(), "library/postgres", catalog.TagQuery{Offset: tt.offset, Limit: tt.limit})
				if err != nil {
					t.Fatalf("Tags: %v", err)
				}
				var got []string
				for _, tag := range page.Tags {
					got = append(got, tag.Name)
					if tag.Error != "" || tag.Digest == "" {
						t.Errorf("%s: Digest %q, Error %q", tag.Name, tag.Digest, tag.Error)
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("tags = %q, want %q", got, tt.want)
				}
				if page.Tags == nil {
					t.Error("Tags is nil, want an empty list so the JSON says []")
				}
				if page.Repository != "library/postgres" || page.Total != len(all) || page.Offset != tt.offset || page.Limit != tt.limit {
					t.Errorf("page = %q total %d offset %d limit %d", page.Repository, page.Total, page.Offset, page.Limit)
				}
				if page.PullHost != host {
					t.Errorf("PullHost = %q, want the registry host %q", page.PullHost, host)
				}
			})
		}
	})

	t.Run("warm cache makes only HEAD requests", func(t *testing.T) {
		rec := newRecorder()
		// A TagTTL this short makes every call revalidate each tag with a HEAD.
		svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host, Transport: rec, Concurrency: 4}), TagTTL: time.Nanosecond})
		cold := tags(t, svc, "library/postgres")
		if n := rec.count(http.MethodGet, "/manifests/") + rec.count(http.MethodGet, "/blobs/"); n == 0 {
			t.Fatal("the cold call fetched no manifests or blobs; the recorder sees nothing")
		}
		rec.reset()
		warm := tags(t, svc, "library/postgres")
		if !reflect.DeepEqual(warm, cold) {
			t.Errorf("warm call differs from the cold one:\n cold %+v\n warm %+v", cold, warm)
		}
		if n := rec.count(http.MethodGet, "/manifests/"); n != 0 {
			t.Errorf("warm call made %d manifest GETs, want 0", n)
		}
		if n := rec.count(http.MethodGet, "/blobs/"); n != 0 {
			t.Errorf("warm call made %d blob GETs, want 0", n)
		}
		if n := rec.count(http.MethodHead, "/manifests/"); n != len(warm.Tags) {
			t.Errorf("warm call made %d manifest HEADs, want one per tag (%d)", n, len(warm.Tags))
		}
	})

	t.Run("within TagTTL a warm call asks the registry nothing", func(t *testing.T) {
		rec := newRecorder()
		svc := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host, Transport: rec}), TagTTL: time.Hour})
		cold := tags(t, svc, "library/postgres")
		rec.reset()
		warm := tags(t, svc, "library/postgres")
		if !reflect.DeepEqual(warm, cold) {
			t.Errorf("warm call differs from the cold one")
		}
		if n := rec.total(); n != 0 {
			t.Errorf("warm call within TagTTL made %d registry requests, want 0", n)
		}
		// A push event invalidates the tag: the next call asks again.
		svc.Invalidate("library/postgres", "16")
		rec.reset()
		tags(t, svc, "library/postgres")
		if n := rec.count(http.MethodHead, "/manifests/"); n != 1 {
			t.Errorf("after Invalidate, %d HEADs, want 1 (the invalidated tag)", n)
		}
	})

	t.Run("cache is shared through Options", func(t *testing.T) {
		lru := cache.NewLRU(64 << 20)
		first := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host}), Cache: lru})
		want := tags(t, first, "library/redis")
		if lru.Len() == 0 {
			t.Fatal("the cache given in Options is still empty after Tags")
		}
		rec := newRecorder()
		second := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: "http://" + host, Transport: rec}), Cache: lru})
		got := tags(t, second, "library/redis")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("second service answers differently:\n got %+v\nwant %+v", got, want)
		}
		// A new service resolves each tag once (by tag); everything by digest comes from the cache.
		if n := rec.count(http.MethodGet, "/manifests/sha256:") + rec.count(http.MethodGet, "/blobs/"); n != 0 {
			t.Errorf("second service made %d manifest or blob GETs by digest, want 0", n)
		}
	})

	t.Run("failed tag does not fail the page", func(t *testing.T) {
		rec := newRecorder()
		rec.fail = func(r *http.Request) bool {
			return r.URL.Path == "/v2/library/postgres/manifests/16"
		}
		svc := newService(t, host, rec, 4)
		page, err := svc.Tags(t.Context(), "library/postgres", catalog.TagQuery{Offset: 0, Limit: 100})
		if err != nil {
			t.Fatalf("Tags: %v, want the page with one tag marked", err)
		}
		if len(page.Tags) != 6 {
			t.Fatalf("got %d tags, want 6", len(page.Tags))
		}
		for _, tag := range page.Tags {
			if tag.Name == "16" {
				if !strings.Contains(tag.Error, "500") || tag.Digest != "" || tag.Kind != "" {
					t.Errorf("16 = %+v, want only an Error naming the 500", tag)
				}
				continue
			}
			if tag.Error != "" || tag.Digest == "" || tag.Size <= 0 || len(tag.Platforms) == 0 {
				t.Errorf("%s = %+v, want full details", tag.Name, tag)
			}
		}
	})

	t.Run("unknown repository", func(t *testing.T) {
		svc := newService(t, host, nil, 4)
		_, err := svc.Tags(t.Context(), "library/does-not-exist", catalog.TagQuery{Offset: 0, Limit: 100})
		wantHTTPError(t, err, http.StatusNotFound, api.CodeNotFound)
	})

	t.Run("invalid repository name", func(t *testing.T) {
		rec := newRecorder()
		svc := newService(t, host, rec, 4)
		for _, repo := range []string{"UPPER/case", "", "has space", "library/alpine:3.21", "library/alpine@sha256:abc", "library/Alpine"} {
			t.Run(repo, func(t *testing.T) {
				_, err := svc.Tags(t.Context(), repo, catalog.TagQuery{Offset: 0, Limit: 100})
				wantHTTPError(t, err, http.StatusBadRequest, api.CodeNameInvalid)
			})
		}
		if n := rec.count(http.MethodGet, "/") + rec.count(http.MethodHead, "/"); n != 0 {
			t.Errorf("invalid names made %d requests to the registry, want 0", n)
		}
	})
}

func TestArtifacts(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)

	// An artifact whose config media type says what it is (OCI 1.0 style).
	const thingConfig = "application/vnd.example.thing.config.v1+json"
	layer := static.NewLayer([]byte(`{"hello":"world"}`), "application/vnd.example.thing.layer.v1+json")
	thing, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	thing = mutate.ConfigMediaType(thing, thingConfig)
	push(t, host, "example/thing:v1", thing)

	// An artifact with artifactType and the empty config (OCI 1.1 style).
	const sbomType = "application/vnd.example.sbom.v1+json"
	repo := ref(t, host, "example/sbom:v1").Context()
	emptyConfig := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	sbom := static.NewLayer([]byte(`{"packages":[]}`), "application/spdx+json")
	for _, l := range []v1.Layer{emptyConfig, sbom} {
		if err := remote.WriteLayer(repo, l, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	raw := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,"config":%s,"layers":[%s]}`,
		types.OCIManifestSchema1, sbomType, descriptorJSON(t, emptyConfig), descriptorJSON(t, sbom))
	if err := remote.Put(ref(t, host, "example/sbom:v1"), rawManifest{raw, types.OCIManifestSchema1}, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("put artifact manifest: %v", err)
	}

	svc := newService(t, host, nil, 4)
	tests := []struct {
		repo, artifactType string
		size               int64
	}{
		{"example/thing", thingConfig, factsSize(t, thing)},
		{"example/sbom", sbomType, 2 + 15},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			tag := tagNamed(t, tags(t, svc, tt.repo), "v1")
			if tag.Error != "" {
				t.Fatalf("error %q", tag.Error)
			}
			if tag.Kind != "artifact" || tag.ArtifactType != tt.artifactType {
				t.Errorf("Kind, ArtifactType = %q, %q; want artifact, %q", tag.Kind, tag.ArtifactType, tt.artifactType)
			}
			if tag.Size != tt.size {
				t.Errorf("Size = %d, want config plus layers %d", tag.Size, tt.size)
			}
			if len(tag.Platforms) != 0 || !tag.Created.IsZero() {
				t.Errorf("Platforms, Created = %+v, %v; an artifact has neither", tag.Platforms, tag.Created)
			}
			if tag.MediaType != string(types.OCIManifestSchema1) || tag.Digest != headDigest(t, host, tt.repo+":v1") {
				t.Errorf("MediaType, Digest = %q, %q", tag.MediaType, tag.Digest)
			}
		})
	}
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw string
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return []byte(m.raw), nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

func descriptorJSON(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := l.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, mt, d, size)
}

func factsSize(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size
}

func TestAttestations(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	withPlatform := func(p v1.Platform) v1.Image {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		cf.Created = v1.Time{Time: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		return mutate.MediaType(img, types.OCIManifestSchema1)
	}
	amd64 := withPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})
	arm64 := withPlatform(v1.Platform{OS: "linux", Architecture: "arm64"})
	amdDigest, err := amd64.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// A buildx provenance attestation: in-toto layers, platform unknown/unknown.
	statement := static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), "application/vnd.in-toto+json")
	att, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), statement)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   "attestation-manifest",
				"vnd.docker.reference.digest": amdDigest.String(),
			},
		}},
	)
	if err := remote.WriteIndex(ref(t, host, "example/attested:v1"), idx, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push index: %v", err)
	}

	svc := newService(t, host, nil, 4)
	tag := tagNamed(t, tags(t, svc, "example/attested"), "v1")
	if tag.Error != "" {
		t.Fatalf("error %q", tag.Error)
	}
	if tag.Kind != "index" || tag.Attestations != 1 {
		t.Errorf("Kind, Attestations = %q, %d; want index, 1", tag.Kind, tag.Attestations)
	}
	if got, want := platformNames(tag.Platforms), []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
		t.Errorf("platforms = %q, want %q (no unknown/unknown)", got, want)
	}
	var sum int64
	for _, p := range tag.Platforms {
		sum += p.Size
	}
	if tag.Size != sum {
		t.Errorf("Size = %d, want the platforms' sum %d without the attestation", tag.Size, sum)
	}
}

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	const n = 40
	for i := range n {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		push(t, host, fmt.Sprintf("many/tags:t%02d", i), img)
	}

	for _, concurrency := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			rec := newRecorder()
			rec.delay = 5 * time.Millisecond
			svc := newService(t, host, rec, concurrency)
			page := tags(t, svc, "many/tags")
			if len(page.Tags) != n || page.Total != n {
				t.Fatalf("got %d of %d tags, want %d", len(page.Tags), page.Total, n)
			}
			for _, tag := range page.Tags {
				if tag.Error != "" || tag.Kind != "image" || tag.Size <= 0 {
					t.Errorf("%s = %+v, want a described image", tag.Name, tag)
				}
			}
			// Every tag needs its manifest and its config: plenty of chances to overlap.
			if got := rec.count(http.MethodGet, "/manifests/") - rec.count(http.MethodGet, "/manifests/sha256:"); got != n {
				t.Errorf("%d manifest requests by tag, want %d", got, n)
			}
			maxSeen := rec.maxInFlight.Load()
			if maxSeen > int64(concurrency) {
				t.Errorf("%d requests in flight at once, want at most %d", maxSeen, concurrency)
			}
			if concurrency > 1 && maxSeen < 2 {
				t.Errorf("at most %d request in flight, want requests to overlap", maxSeen)
			}
		})
	}
}

func TestRegistryDown(t *testing.T) {
	t.Parallel()
	// A port that was just listened on and is now closed refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	svc := newService(t, host, nil, 4)

	t.Run("repositories", func(t *testing.T) {
		_, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 100})
		wantHTTPError(t, err, http.StatusServiceUnavailable, api.CodeRegistryUnavailable)
	})
	t.Run("tags", func(t *testing.T) {
		_, err := svc.Tags(t.Context(), "library/alpine", catalog.TagQuery{Offset: 0, Limit: 100})
		wantHTTPError(t, err, http.StatusServiceUnavailable, api.CodeRegistryUnavailable)
	})
}

func TestRegistryErrorStatus(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	tests := []struct {
		status     int
		wantStatus int
		wantCode   api.Code
	}{
		{http.StatusUnauthorized, http.StatusUnauthorized, api.CodeUnauthorized},
		// 403 and 404 are a registry refusing its catalog (GitLab, GHCR, Harbor): the list
		// is what Berth knows of otherwise, marked as such.
		{http.StatusForbidden, 0, ""},
		{http.StatusNotFound, 0, ""},
		{http.StatusTeapot, http.StatusBadGateway, api.CodeRegistryError},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			// The ping reaches the real registry; the catalog read gets the status under test.
			rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if req.URL.Path != "/v2/_catalog" {
					return http.DefaultTransport.RoundTrip(req)
				}
				return &http.Response{
					StatusCode: tt.status,
					Header:     http.Header{"Content-Type": {"application/json"}},
					Body:       io.NopCloser(strings.NewReader(`{"errors":[{"code":"DENIED","message":"no"}]}`)),
					Request:    req,
				}, nil
			})
			svc := newService(t, host, rt, 4)
			page, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 100})
			if tt.wantStatus == 0 {
				if err != nil || !page.CatalogRefused {
					t.Fatalf("refused catalog: %+v, %v; want an answer marked catalogRefused", page, err)
				}
				return
			}
			wantHTTPError(t, err, tt.wantStatus, tt.wantCode)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
