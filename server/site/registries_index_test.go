package site_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalogs"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// TestEndpointIndex: an endpoint someone browsed gets a metadata index of its own, filled by
// its sync, on distribution 3 and on distribution 2.8 with htpasswd. Its catalog then sorts
// by size and filters by kind, its tags carry sizes, its labels are searched, a manifest that
// lost its tag is listed as untagged, and the index answers after a restart; removing the
// endpoint removes its index.
func TestEndpointIndex(t *testing.T) {
	robot := &authn.Basic{Username: "robot", Password: "robot-password"}
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
		auth authn.Authenticator
	}{
		{"distribution 3", func(t *testing.T) string { return registrytest.Distribution3(t).URL }, authn.Anonymous},
		{"distribution 2.8", func(t *testing.T) string {
			return registrytest.Distribution28(t, registrytest.Config28{Htpasswd: map[string]string{"robot": "robot-password"}}).URL
		}, robot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.url(t)
			endpointIndexOn(t, base, tc.auth, robot)
		})
	}
}

func endpointIndexOn(t *testing.T, base string, auth authn.Authenticator, robot *authn.Basic) {
	push := func(ref string, layer int64, labels map[string]string) v1.Hash {
		t.Helper()
		img, err := random.Image(layer, 1)
		if err != nil {
			t.Fatal(err)
		}
		if labels != nil {
			if img, err = mutate.Config(img, v1.Config{Labels: labels}); err != nil {
				t.Fatal(err)
			}
		}
		r, _ := name.ParseReference(strings.TrimPrefix(base, "http://")+"/"+ref, name.Insecure)
		if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		d, _ := img.Digest()
		return d
	}
	push("team/app:v1", 200, map[string]string{"team": "red"})
	push("team/app:v2", 50_000, nil)
	old := push("team/app:old", 300, nil)
	push("zeta/tiny:latest", 100, nil)

	dsn := filepath.Join(t.TempDir(), "berth.db")
	st, err := store.OpenSQLite(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	serve := func(interval time.Duration) string {
		t.Helper()
		cfg := config.Default()
		cfg.WebDir = t.TempDir()
		h := newSite(t, cfg, registrytest.Open(t), nil, func(s *site.Services) {
			s.Authenticator = accounts{}
			if s.Replication, err = replication.New(replication.Options{Store: st, Main: s.Registry, Secret: []byte("a cluster secret for the tests")}); err != nil {
				t.Fatal(err)
			}
			s.Catalogs = catalogs.New(s.Catalog, s.Replication, catalogs.Indexes{
				Open:         func(ctx context.Context, name string) (store.Store, error) { return store.OpenEndpoint(ctx, dsn, name) },
				Remove:       func(ctx context.Context, name string) error { return store.RemoveEndpoint(ctx, dsn, name) },
				SyncInterval: interval,
			})
			t.Cleanup(func() { _ = s.Catalogs.Close() })
		})
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	url := serve(300 * time.Millisecond)
	get := apiGetter(t, url)
	if err := addEndpoint(t, url, api.RegistryEndpoint{Name: "edge", URL: base, Username: robot.Username, Password: robot.Password}); err != nil {
		t.Fatal(err)
	}

	var page api.RepositoryPage
	waitFor(t, "the sync to size every repository", func() bool {
		get("root", "/api/v1/r/edge/repositories?sort=-size", http.StatusOK, &page)
		return len(page.Repositories) == 2 && page.Repositories[0].Size > 0 && page.Repositories[1].Size > 0 && page.Repositories[0].Tags == 3
	})
	if page.Repositories[0].Name != "team/app" || page.Repositories[1].Name != "zeta/tiny" {
		t.Errorf("largest first: %+v", page.Repositories)
	}
	get("root", "/api/v1/r/edge/repositories?sort=size", http.StatusOK, &page)
	if page.Repositories[0].Name != "zeta/tiny" {
		t.Errorf("smallest first: %+v", page.Repositories)
	}
	get("root", "/api/v1/r/edge/repositories?kind=chart", http.StatusOK, &page)
	if page.Total != 0 {
		t.Errorf("charts on an endpoint of images: %+v", page)
	}
	var tags api.TagPage
	get("root", "/api/v1/r/edge/repositories/team/app/tags?label=team%3Dred", http.StatusOK, &tags)
	if len(tags.Tags) != 1 || tags.Tags[0].Name != "v1" || tags.Tags[0].Size == 0 {
		t.Errorf("tags labelled team=red: %+v", tags.Tags)
	}
	var found api.SearchPage
	get("root", "/api/v1/search?q=team%3Dred", http.StatusOK, &found)
	if len(found.Results) != 1 || found.Results[0].Registry != "edge" || found.Results[0].Tag != "v1" {
		t.Errorf("label search across registries: %+v", found.Results)
	}
	get("dev", "/api/v1/r/edge/repositories?sort=-size", http.StatusForbidden, nil)

	// The tag "old" moves: its former manifest is still in the registry, untagged, and the
	// next sync tells.
	push("team/app:old", 400, nil)
	var untagged api.UntaggedPage
	waitFor(t, "the moved tag's manifest to be listed untagged", func() bool {
		get("root", "/api/v1/r/edge/repositories/team/app/untagged", http.StatusOK, &untagged)
		for _, m := range untagged.Manifests {
			if m.Digest == old.String() {
				return true
			}
		}
		return false
	})

	// A restart (a new set on the same database, without its sync) answers from the index.
	again := apiGetter(t, serve(0))
	again("root", "/api/v1/r/edge/repositories?sort=-size", http.StatusOK, &page)
	if len(page.Repositories) != 2 || page.Repositories[0].Name != "team/app" || page.Repositories[0].Size == 0 {
		t.Errorf("after a restart: %+v", page.Repositories)
	}

	file := filepath.Join(dsn+".endpoints", "edge.db")
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, url+"/api/v1/registries/edge", nil)
	req.SetBasicAuth("root", "x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("remove the endpoint: %d", resp.StatusCode)
	}
	waitFor(t, "the removed endpoint's index to go", func() bool {
		_, err := os.Stat(file)
		return os.IsNotExist(err)
	})
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
