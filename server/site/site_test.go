package site_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/app/api"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// berth starts Berth's full handler in front of a real registry whose requests are counted.
func berth(t *testing.T, origins ...string) (base string, upstreamHits *atomic.Int32) {
	t.Helper()
	reg, err := embedded.New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hits := &atomic.Int32{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reg.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() { up.Close(); reg.Close() })

	web := t.TempDir()
	if err := os.WriteFile(filepath.Join(web, "berth.css"), []byte("body{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.WebDir = web
	cfg.CORSOrigins = origins
	h := newSite(t, cfg, up.URL, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

func do(t *testing.T, method, url string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestPreflightAnsweredByBerth(t *testing.T) {
	base, hits := berth(t, "https://ui.example.com")
	for _, path := range []string{"/v2/library/alpine/manifests/latest", "/v2/library/alpine/blobs/uploads/", "/api/v1/repositories"} {
		t.Run(path, func(t *testing.T) {
			before := hits.Load()
			resp := do(t, http.MethodOptions, base+path, map[string]string{
				"Origin":                         "https://ui.example.com",
				"Access-Control-Request-Method":  "PUT",
				"Access-Control-Request-Headers": "authorization, content-type, range",
			})
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("preflight status %d, want 204", resp.StatusCode)
			}
			h := resp.Header
			if h.Get("Access-Control-Allow-Origin") != "https://ui.example.com" {
				t.Errorf("Allow-Origin = %q", h.Get("Access-Control-Allow-Origin"))
			}
			if h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("Allow-Credentials = %q, want true for a listed origin", h.Get("Access-Control-Allow-Credentials"))
			}
			methods := h.Get("Access-Control-Allow-Methods")
			if !strings.Contains(methods, "PUT") {
				t.Errorf("Allow-Methods = %q", methods)
			}
			allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"authorization", "content-type", "range"} {
				if !strings.Contains(allowed, want) {
					t.Errorf("Allow-Headers %q lacks %s", allowed, want)
				}
			}
			if hits.Load() != before {
				t.Errorf("the preflight was forwarded to the registry")
			}
		})
	}
	// Every method a registry client needs passes preflight.
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		resp := do(t, http.MethodOptions, base+"/v2/", map[string]string{"Origin": "https://ui.example.com", "Access-Control-Request-Method": m})
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("preflight for %s: status %d, Allow-Origin %q", m, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestCORSExposesRegistryHeaders(t *testing.T) {
	base, _ := berth(t, "https://ui.example.com")
	resp := do(t, http.MethodGet, base+"/v2/", map[string]string{"Origin": "https://ui.example.com"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ status %d", resp.StatusCode)
	}
	exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	for _, want := range []string{"docker-content-digest", "link", "content-range", "www-authenticate", "docker-distribution-api-version", "location"} {
		if !strings.Contains(exposed, want) {
			t.Errorf("Expose-Headers %q lacks %s", exposed, want)
		}
	}
	if resp.Header.Get("Docker-Distribution-Api-Version") == "" {
		t.Errorf("the registry's API version header was lost")
	}
}

func TestCORSRefusesUnlistedOrigins(t *testing.T) {
	base, hits := berth(t, "https://ui.example.com")
	before := hits.Load()
	resp := do(t, http.MethodOptions, base+"/v2/", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("unlisted origin got Allow-Origin %q", got)
	}
	if hits.Load() != before {
		t.Errorf("a refused preflight reached the registry")
	}
	resp = do(t, http.MethodGet, base+"/api/v1/repositories", map[string]string{"Origin": "https://evil.example"})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("unlisted origin got Allow-Origin %q on GET", got)
	}

	// With no origin configured, nothing cross-origin is allowed.
	none, _ := berth(t)
	resp = do(t, http.MethodGet, none+"/v2/", map[string]string{"Origin": "https://ui.example.com"})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("no origins configured, yet Allow-Origin %q", got)
	}
}

func TestCORSWildcardNeverWithCredentials(t *testing.T) {
	base, _ := berth(t, "*")
	resp := do(t, http.MethodOptions, base+"/v2/", map[string]string{"Origin": "https://any.example", "Access-Control-Request-Method": "GET"})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "https://any.example" {
		t.Fatalf("wildcard: Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got == "true" {
		t.Fatalf("wildcard origin allowed credentials")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	base, _ := berth(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp := do(t, http.MethodGet, base+path, nil)
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, %v", path, resp.StatusCode, err)
		}
	}

	// Readiness follows the registry: a dead one makes Berth unready, not unhealthy.
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	h := newSite(t, cfg, "http://127.0.0.1:1", nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	if resp := do(t, http.MethodGet, srv.URL+"/readyz", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with the registry down: %d, want 503", resp.StatusCode)
	}
	if resp := do(t, http.MethodGet, srv.URL+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz with the registry down: %d, want 200", resp.StatusCode)
	}
}

func TestAPIErrorsAreJSON(t *testing.T) {
	base, _ := berth(t)
	for _, tc := range []struct {
		path   string
		status int
		code   api.Code
	}{
		{"/api/v1/nope", http.StatusNotFound, api.CodeNotFound},
		{"/api/v2/repositories", http.StatusNotFound, api.CodeNotFound},
		{"/api/v1/repositories?limit=0", http.StatusBadRequest, api.CodeBadRequest},
		{"/api/v1/repositories/UPPER/tags", http.StatusBadRequest, api.CodeNameInvalid},
		{"/api/v1/repositories/no/such/repo/tags", http.StatusNotFound, api.CodeNotFound},
	} {
		resp := do(t, http.MethodGet, base+tc.path, nil)
		b, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s: body is not JSON: %s", tc.path, b)
			continue
		}
		if resp.StatusCode != tc.status || api.Code(e.Error.Code) != tc.code || e.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", tc.path, resp.StatusCode, e.Error, tc.status, tc.code)
		}
	}
}

// TestPathTricksNeverReachRegistry goes through the whole mux: cleaned paths are redirected
// within Berth, encoded ones refused; neither reaches the registry outside /v2.
func TestPathTricksNeverReachRegistry(t *testing.T) {
	base, hits := berth(t)
	before := hits.Load()
	for _, p := range []string{"/v2/../healthz", "/v2/%2e%2e/etc/passwd", "/v2/a%2fb/tags/list"} {
		resp := do(t, http.MethodGet, base+p, nil)
		if resp.StatusCode < 300 || resp.StatusCode >= 500 {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
	}
	if hits.Load() != before {
		t.Errorf("path tricks reached the registry %d times", hits.Load()-before)
	}
}

// TestReadinessFollowsTheStore stops the event store under a running Berth: /readyz turns 503
// and says the store is unreachable, while /healthz stays 200 (the process is fine).
func TestReadinessFollowsTheStore(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var dsn string
			var stop func()
			if kind == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "berth.db")
			} else {
				pg := storetest.StartPostgres(t)
				dsn, stop = pg.NewDatabase(t), func() { pg.Stop(t) }
			}
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if stop == nil {
				stop = func() { _ = st.Close() }
			}
			cfg := config.Default()
			cfg.WebDir = t.TempDir()
			srv := httptest.NewServer(newSite(t, cfg, registrytest.Open(t), nil, func(s *site.Services) { s.Store = st }))
			t.Cleanup(srv.Close)
			ready := func() (int, map[string]string) {
				resp := do(t, http.MethodGet, srv.URL+"/readyz", nil)
				var body map[string]string
				_ = json.NewDecoder(resp.Body).Decode(&body)
				return resp.StatusCode, body
			}
			if code, body := ready(); code != http.StatusOK || body["store"] != "ok" {
				t.Fatalf("with the store up: %d %v", code, body)
			}
			stop()
			if code, body := ready(); code != http.StatusServiceUnavailable || body["store"] != "unreachable" {
				t.Errorf("with the store down: %d %v, want 503 with the store unreachable", code, body)
			}
			if resp := do(t, http.MethodGet, srv.URL+"/healthz", nil); resp.StatusCode != http.StatusOK {
				t.Errorf("healthz with the store down: %d", resp.StatusCode)
			}
		})
	}
}
