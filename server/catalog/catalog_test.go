package catalog_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/cache"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
		got.Changes, want.Changes = "", "" // each service's own token of changes
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
