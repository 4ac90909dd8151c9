package demo_test

import (
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
)

// newRegistry serves a fresh embedded registry and returns its host:port.
func newRegistry(t *testing.T) string {
	t.Helper()
	reg, err := embedded.New(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("embedded.New: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

func seed(t *testing.T, host string) {
	t.Helper()
	if err := demo.Seed(t.Context(), host); err != nil {
		t.Fatalf("Seed: %v", err)
	}
}

// tagDigests maps every "repo:tag" in the registry to the digest it points at.
func tagDigests(t *testing.T, host string) map[string]v1.Hash {
	t.Helper()
	out := map[string]v1.Hash{}
	for _, repo := range demo.Repositories() {
		r, err := name.NewRepository(host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(r, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("List %s: %v", repo, err)
		}
		for _, tag := range tags {
			desc, err := remote.Head(r.Tag(tag), remote.WithContext(t.Context()))
			if err != nil {
				t.Fatalf("Head %s:%s: %v", repo, tag, err)
			}
			out[repo+":"+tag] = desc.Digest
		}
	}
	return out
}

func get(t *testing.T, host, ref string) *remote.Descriptor {
	t.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("Get %s: %v", ref, err)
	}
	return desc
}

func TestSeed(t *testing.T) {
	host := newRegistry(t)

	empty, err := demo.Empty(t.Context(), host)
	if err != nil || !empty {
		t.Fatalf("Empty before seeding = %v, %v; want true", empty, err)
	}
	seed(t, host)
	if empty, err := demo.Empty(t.Context(), host); err != nil || empty {
		t.Fatalf("Empty after seeding = %v, %v; want false", empty, err)
	}

	reg, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := remote.Catalog(t.Context(), reg)
	if err != nil {
		t.Fatalf("Catalog: %v", err)
	}
	if want := demo.Repositories(); !slices.Equal(catalog, want) || len(want) < 9 {
		t.Fatalf("catalog = %v, want %v (at least 9)", catalog, want)
	}

	digests := tagDigests(t, host)

	t.Run("tags", func(t *testing.T) {
		tests := []struct {
			repo string
			tags []string
		}{
			{"library/alpine", []string{"3.19", "3.20", "3.21", "latest"}},
			{"library/nginx", []string{"1.25", "1.26", "1.27-alpine", "latest"}},
			{"library/postgres", []string{"15", "16", "16.4", "17", "17.2", "latest"}},
			{"library/redis", []string{"7.2", "7.4", "7.4-alpine", "latest"}},
			{"team/api/server", []string{"v1.0.0", "v1.1.0", "v1.2.0", "latest"}},
			{"team/api/worker", []string{"v1.1.0", "v1.2.0", "latest"}},
			{"team/web/frontend", []string{"2025.06.1", "2025.11.0", "pr-412", "latest"}},
			{"tools/ci/runner", []string{"2.317.0", "2.319.1", "latest"}},
			{"staging/payments/ledger", []string{"0.9.0-rc.1", "0.9.0", "staging"}},
		}
		for _, tt := range tests {
			for _, tag := range tt.tags {
				if _, ok := digests[tt.repo+":"+tag]; !ok {
					t.Errorf("%s:%s missing", tt.repo, tag)
				}
			}
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(digests)), func(k string) bool {
			return strings.HasPrefix(k, "team/api/server:main-")
		}) {
			t.Error("team/api/server has no main-<sha> tag")
		}
	})

	t.Run("shared digests", func(t *testing.T) {
		tests := []struct {
			a, b string
			same bool
		}{
			{"library/alpine:3.21", "library/alpine:latest", true},
			{"library/nginx:1.27-alpine", "library/nginx:latest", true},
			{"library/postgres:16", "library/postgres:16.4", true},
			{"library/postgres:17", "library/postgres:latest", true},
			{"team/api/server:v1.2.0", "team/api/server:latest", true},
			{"staging/payments/ledger:0.9.0", "staging/payments/ledger:staging", true},
			{"library/alpine:3.20", "library/alpine:latest", false},
			{"library/redis:7.4", "library/redis:7.4-alpine", false},
		}
		for _, tt := range tests {
			if got := digests[tt.a] == digests[tt.b]; got != tt.same {
				t.Errorf("%s == %s is %v, want %v", tt.a, tt.b, got, tt.same)
			}
		}
	})

	t.Run("alpine index", func(t *testing.T) {
		desc := get(t, host, "library/alpine:latest")
		if desc.MediaType != types.OCIImageIndex {
			t.Fatalf("media type = %s, want OCI index", desc.MediaType)
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range im.Manifests {
			got = append(got, m.Platform.String())
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if p := cf.Platform(); p.String() != m.Platform.String() {
				t.Errorf("config of %s says %s", m.Platform, p)
			}
		}
		if want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}; !slices.Equal(got, want) {
			t.Errorf("platforms = %v, want %v", got, want)
		}
	})

	t.Run("manifest kinds", func(t *testing.T) {
		tests := []struct {
			ref  string
			want types.MediaType
		}{
			{"library/alpine:3.19", types.DockerManifestSchema2},
			{"library/nginx:latest", types.DockerManifestList},
			{"library/redis:latest", types.OCIManifestSchema1},
			{"team/api/server:latest", types.OCIManifestSchema1},
			{"team/api/worker:latest", types.DockerManifestSchema2},
		}
		for _, tt := range tests {
			if got := get(t, host, tt.ref).MediaType; got != tt.want {
				t.Errorf("%s media type = %s, want %s", tt.ref, got, tt.want)
			}
		}
	})

	t.Run("config", func(t *testing.T) {
		for _, ref := range []string{"team/api/server:latest", "library/postgres:latest", "team/web/frontend:latest", "tools/ci/runner:latest"} {
			img, err := get(t, host, ref).Image()
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.version",
				"org.opencontainers.image.source", "org.opencontainers.image.revision", "org.opencontainers.image.created", "maintainer"} {
				if cf.Config.Labels[l] == "" {
					t.Errorf("%s: label %s missing", ref, l)
				}
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			var nonEmpty, empty int
			for _, h := range cf.History {
				if h.EmptyLayer {
					empty++
				} else {
					nonEmpty++
				}
			}
			if nonEmpty != len(layers) || empty == 0 || len(layers) < 1 || len(layers) > 4 {
				t.Errorf("%s: %d layers, history %d non-empty + %d empty", ref, len(layers), nonEmpty, empty)
			}
			if cf.Created.IsZero() || len(cf.Config.Env) == 0 || len(cf.Config.Entrypoint)+len(cf.Config.Cmd) == 0 {
				t.Errorf("%s: config lacks created/env/entrypoint: %+v", ref, cf.Config)
			}
		}
	})

	t.Run("second seed is harmless", func(t *testing.T) {
		seed(t, host)
		again := tagDigests(t, host)
		if !maps.Equal(again, digests) {
			t.Errorf("digests changed after a second Seed:\nbefore %v\nafter  %v", digests, again)
		}
	})
}

func TestSeedDeterministic(t *testing.T) {
	a, b := newRegistry(t), newRegistry(t)
	seed(t, a)
	seed(t, b)
	da, db := tagDigests(t, a), tagDigests(t, b)
	if len(da) == 0 || !maps.Equal(da, db) {
		t.Errorf("two seeds differ:\n%v\n%v", da, db)
	}
}
