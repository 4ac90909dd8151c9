package site_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/catalogs"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// accounts is the one authenticator of these tests: "root" is an administrator, anyone else
// a plain user, whatever the password.
type accounts struct{}

func (accounts) Identify(_ context.Context, c access.Credentials) (access.Identity, error) {
	return access.Identity{Kind: access.User, Name: c.User, Admin: c.User == "root", Key: c.Key}, nil
}

// TestBrowseOtherRegistries reads a second distribution 3 and a distribution 2.8 with
// htpasswd (refusing its catalog) through /api/v1/r/{registry}/… as an administrator: the
// same catalog, tag and manifest answers as the main registry's, with the endpoint's sealed
// credentials; the 2.8 one lists its operator list and names opened there, as does one added
// with noCatalog. Others are
// refused, and search finds the endpoints' repositories for administrators only.
func TestBrowseOtherRegistries(t *testing.T) {
	second := registrytest.Distribution3(t)
	d3 := pushImage(t, second.URL, "team/app:v1", authn.Anonymous)
	robot := &authn.Basic{Username: "robot", Password: "robot-password"}
	old := registrytest.Distribution28(t, registrytest.Config28{Htpasswd: map[string]string{"robot": "robot-password"}})
	d28 := pushImage(t, old.URL, "legacy/tool:2", robot)
	refusing := registrytest.RefuseCatalog(t, old.URL, http.StatusUnauthorized)

	dsn := filepath.Join(t.TempDir(), "berth.db")
	st, err := store.OpenSQLite(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	h := newSite(t, cfg, registrytest.Open(t), nil, func(s *site.Services) {
		s.Authenticator = accounts{}
		if s.Replication, err = replication.New(replication.Options{Store: st, Main: s.Registry, Secret: []byte("a cluster secret for the tests")}); err != nil {
			t.Fatal(err)
		}
		// Each endpoint with an index of its own, filled by its pages' reads (no sync here).
		s.Catalogs = catalogs.New(s.Catalog, s.Replication, catalogs.Indexes{
			Open: func(ctx context.Context, name string) (store.Store, error) { return store.OpenEndpoint(ctx, dsn, name) },
		})
		t.Cleanup(func() { _ = s.Catalogs.Close() })
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(t *testing.T, user, path string, want int, into any) string {
		t.Helper()
		return apiGetter(t, srv.URL)(user, path, want, into)
	}
	for _, e := range []api.RegistryEndpoint{
		{Name: "second", URL: second.URL},
		{Name: "old", URL: refusing, Username: "robot", Password: "robot-password", Repositories: []string{"ops/listed"}},
		{Name: "listed", URL: second.URL, NoCatalog: true}, // its catalog answers, but is not to be used
	} {
		if err := addEndpoint(t, srv.URL, e); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("distribution 3", func(t *testing.T) {
		var page api.RepositoryPage
		get(t, "root", "/api/v1/r/second/repositories", http.StatusOK, &page)
		if len(page.Repositories) != 1 || page.Repositories[0].Name != "team/app" {
			t.Fatalf("second's catalog: %+v", page)
		}
		var tags api.TagPage
		get(t, "root", "/api/v1/r/second/repositories/team/app/tags", http.StatusOK, &tags)
		if len(tags.Tags) != 1 || tags.Tags[0].Name != "v1" || tags.Tags[0].Digest != d3.String() {
			t.Fatalf("second's tags: %+v", tags)
		}
		var m api.Manifest
		get(t, "root", "/api/v1/r/second/repositories/team/app/manifests/v1", http.StatusOK, &m)
		if m.Digest != d3.String() || m.Repository != "team/app" {
			t.Fatalf("second's manifest: %s %s, want %s", m.Repository, m.Digest, d3)
		}
	})
	t.Run("distribution 2.8 without its catalog", func(t *testing.T) {
		var page api.RepositoryPage
		get(t, "root", "/api/v1/r/old/repositories", http.StatusOK, &page)
		if !page.CatalogRefused || len(page.Repositories) != 1 || page.Repositories[0].Name != "ops/listed" {
			t.Fatalf("old's catalog before a visit: %+v", page)
		}
		var tags api.TagPage
		get(t, "root", "/api/v1/r/old/repositories/legacy/tool/tags", http.StatusOK, &tags)
		if len(tags.Tags) != 1 || tags.Tags[0].Digest != d28.String() {
			t.Fatalf("old's tags: %+v", tags)
		}
		get(t, "root", "/api/v1/r/old/repositories", http.StatusOK, &page)
		if len(page.Repositories) != 2 || page.Repositories[0].Name != "legacy/tool" {
			t.Fatalf("old's catalog after a visit: %+v", page)
		}
		var m api.Manifest
		get(t, "root", "/api/v1/r/old/repositories/legacy/tool/manifests/2", http.StatusOK, &m)
		if m.Digest != d28.String() {
			t.Fatalf("old's manifest: %s, want %s", m.Digest, d28)
		}
	})
	t.Run("noCatalog", func(t *testing.T) {
		var page api.RepositoryPage
		get(t, "root", "/api/v1/r/listed/repositories", http.StatusOK, &page)
		if !page.CatalogRefused || len(page.Repositories) != 0 {
			t.Fatalf("listed's catalog before a visit: %+v", page)
		}
		get(t, "root", "/api/v1/r/listed/repositories/team/app/tags", http.StatusOK, nil)
		get(t, "root", "/api/v1/r/listed/repositories", http.StatusOK, &page)
		if len(page.Repositories) != 1 || page.Repositories[0].Name != "team/app" {
			t.Fatalf("listed's catalog after a visit: %+v", page)
		}
	})
	t.Run("access", func(t *testing.T) {
		get(t, "", "/api/v1/r/second/repositories", http.StatusUnauthorized, nil)
		get(t, "dev", "/api/v1/r/second/repositories", http.StatusForbidden, nil)
		get(t, "dev", "/api/v1/r/second/repositories/team/app/manifests/v1", http.StatusForbidden, nil)
		get(t, "dev", "/api/v1/r/main/repositories", http.StatusOK, nil)
		get(t, "root", "/api/v1/r/nowhere/repositories", http.StatusNotFound, nil)
		var found api.SearchPage
		get(t, "root", "/api/v1/search?q=team", http.StatusOK, &found)
		if len(found.Results) != 2 || found.Results[0].Registry != "listed" || found.Results[1].Registry != "second" || found.Results[1].Repository != "team/app" {
			t.Errorf("root's search: %+v", found)
		}
		if body := get(t, "dev", "/api/v1/search?q=team", api.CodeNotAvailable.Status(), nil); strings.Contains(body, "second") {
			t.Errorf("dev's search names another registry: %s", body)
		}
	})
}

// addEndpoint adds the endpoint e as root through the API.
func addEndpoint(t *testing.T, base string, e api.RegistryEndpoint) error {
	t.Helper()
	b, _ := json.Marshal(e)
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/registries", strings.NewReader(string(b)))
	req.SetBasicAuth("root", "x")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("add endpoint %s: %d %s", e.Name, resp.StatusCode, body)
	}
	return nil
}

// apiGetter returns a GET of base's API as user (Basic, any password; "" for none) that
// fails t unless the answer has status want, decoding its JSON into into if set.
func apiGetter(t *testing.T, base string) func(user, path string, want int, into any) string {
	return func(user, path string, want int, into any) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, "x")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("GET %s as %q: %d %s, want %d", path, user, resp.StatusCode, b, want)
		}
		if into != nil {
			if err := json.Unmarshal(b, into); err != nil {
				t.Fatal(err)
			}
		}
		return string(b)
	}
}
