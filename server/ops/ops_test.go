package ops

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
