package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestReferrerTagsOnBothDistributions pushes two images, a cosign signature tag, an OCI
// referrer (distribution 2.8 has no referrers API: go-containerregistry tags its fallback
// index sha256-<hex>) and a fallback-style tag by hand, then checks through Berth's API that
// the digest-named tags are referrers, that the catalog counts only the images, and that
// deleting every tag, referrer tags included, empties the repository.
func TestReferrerTagsOnBothDistributions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) registrytest.Registry
	}{
		{"distribution-2.8", func(t *testing.T) registrytest.Registry {
			return registrytest.Distribution28(t, registrytest.Config28{})
		}},
		{"distribution-3", func(t *testing.T) registrytest.Registry { return registrytest.Distribution3(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := tc.start(t)
			const repo = "team/signed"
			v1d := pushReferrerFixture(t, reg.Host, repo)
			cfg := config.Default()
			cfg.Addr, cfg.EmbeddedAddr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", "off", t.TempDir(), "warn"
			cfg.Registry, cfg.NoDemo, cfg.SyncInterval, cfg.AnonymousWrites = reg.URL, true, 0, true
			base, _ := runBerth(t, cfg)

			var tags api.TagPage
			if code, _ := call(t, http.MethodGet, base+"/api/v1/repositories/"+repo+"/tags?limit=all", nil, &tags); code != http.StatusOK {
				t.Fatalf("tags: %d", code)
			}
			var names []string
			for _, tg := range tags.Tags {
				names = append(names, tg.Name)
				if api.IsReferrerTag(tg.Name) != (tg.Kind == "referrer") {
					t.Errorf("tag %s is of kind %q", tg.Name, tg.Kind)
				}
			}
			images, referrers := api.CountTags(names)
			if images != 2 || referrers < 2 || !slices.Contains(names, "sha256-"+v1d.Hex+".sig") {
				t.Fatalf("tags %v: %d images, %d referrer tags", names, images, referrers)
			}
			waitFor(t, "the catalog's count of "+repo, 30*time.Second, func() bool {
				var page api.RepositoryPage
				call(t, http.MethodGet, base+"/api/v1/repositories?q=team/signed", nil, &page)
				return len(page.Repositories) == 1 && page.Repositories[0].Tags == images
			})

			// Delete all, as the repository page sends it: every tag, referrer tags too.
			var started struct{ ID string }
			req := api.JobRequest{Kind: api.JobDelete, Repository: repo, References: names}
			if code, _ := call(t, http.MethodPost, base+"/api/v1/jobs", req, &started); code != http.StatusAccepted {
				t.Fatalf("delete: %d", code)
			}
			var job api.Job
			waitFor(t, "the delete", time.Minute, func() bool {
				call(t, http.MethodGet, base+"/api/v1/jobs/"+started.ID, nil, &job)
				return job.State != "" && job.State != api.JobRunning
			})
			if job.State != api.JobSucceeded {
				t.Fatalf("delete all: %s %s", job.State, job.Error)
			}
			r, _ := name.NewRepository(reg.Host+"/"+repo, name.Insecure)
			if left, err := remote.List(r); err != nil || len(left) != 0 {
				t.Errorf("tags left after deleting all: %v (%v)", left, err)
			}
		})
	}
}

// pushReferrerFixture writes v1 and v2, cosign's signature tag of v1, an OCI referrer of v1
// pushed by digest, and a tag named after v2's digest; it returns v1's digest.
func pushReferrerFixture(t *testing.T, host, repo string) v1.Hash {
	t.Helper()
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(host+"/"+repo+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	write := func(s string, img v1.Image) v1.Hash {
		if err := remote.Write(ref(s), img); err != nil {
			t.Fatalf("push %s: %v", s, err)
		}
		d, _ := img.Digest()
		return d
	}
	image := func(size int64) v1.Image {
		img, err := random.Image(size, 1)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	d1, d2 := write(":v1", image(1001)), write(":v2", image(1002))
	write(fmt.Sprintf(":sha256-%s.sig", d1.Hex), image(300))
	m, _ := remote.Get(ref(":v1"))
	sbom, ok := mutate.Subject(image(200), m.Descriptor).(v1.Image)
	if !ok {
		t.Fatal("subject did not keep an image")
	}
	d, _ := sbom.Digest()
	write("@"+d.String(), sbom)
	write(":sha256-"+d2.Hex, image(100))
	if tags, err := remote.List(ref("").Context()); err != nil || len(tags) < 5 {
		t.Fatalf("pushed tags %v (%v)", tags, err)
	}
	return d1
}
