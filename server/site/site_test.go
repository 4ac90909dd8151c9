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
