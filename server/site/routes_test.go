package site_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/catalogs"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/retention"
	"github.com/berth-registry/berth/server/scan"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/webhooks"
)

// documented matches the endpoints the README's tables name: "`GET /api/v1/…`",
// "`GET/POST /api/v1/…`", and the contents rows that start "`GET …/-/".
var documented = regexp.MustCompile("`((?:GET|POST|PUT|PATCH|DELETE)(?:/(?:GET|POST|PUT|PATCH|DELETE))*) ((?:/api/v1|/auth|…/-)/(?:[^` ?{]|\\{[^}]*\\})*)")

// fillIn gives a documented path's {placeholders} values; repository names have slashes, to
// go through the repository matcher ({name} is a repository's only under /repositories/).
var fillIn = strings.NewReplacer(
	"/repositories/{name}", "/repositories/team/app", "{name}", "team",
	"{repo}", "team/app", "{repository}", "team/app",
	"{tag or digest}", "v1", "{ref}", "v1", "{version}", "1.0.0", "{id}", "1",
	"{user}", "bob", "{registry}", "main", "{robot}", "ci", "{digest}", "sha256:"+strings.Repeat("a", 64),
)

// TestDocumentedEndpointsAreRouted: every endpoint the README documents under /api/v1 (and
// the token and static sign-in endpoints under /auth) is in the route table — none falls to
// the catch-all's "No such API endpoint" (or its 405 for a path routed for other methods).
// A route mounted outside site's table, or dropped from it, fails here.
func TestDocumentedEndpointsAreRouted(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(everything(t))
	t.Cleanup(srv.Close)
	seen := map[string]bool{}
	for _, m := range documented.FindAllStringSubmatch(string(readme), -1) {
		if strings.HasPrefix(m[2], "/auth/oidc/") {
			continue // OpenID Connect needs a provider; oidc tests in server/auth cover it
		}
		path := fillIn.Replace(strings.Replace(m[2], "…/-", "/api/v1/contents/{repo}/-", 1))
		if strings.Contains(path, "{") {
			t.Errorf("%s %s: no value for its placeholder", m[1], m[2])
			continue
		}
		for _, method := range strings.Split(m[1], "/") {
			if seen[method+" "+path] {
				continue
			}
			seen[method+" "+path] = true
			if status, body := call(t, method, srv.URL+path); strings.Contains(body, "No such API endpoint") ||
				strings.Contains(body, "is not allowed here") {
				t.Errorf("%s %s (README: %s) is not routed: %d %s", method, path, m[2], status, body)
			}
		}
	}
	if len(seen) < 50 {
		t.Errorf("only %d endpoints found in the README: %v", len(seen), seen)
	}
}

func call(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body)
}

// everything is Berth's handler with every service set: catalog, jobs, activity, charts,
// contents and access control.
func everything(t *testing.T) http.Handler {
	t.Helper()
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	accounts, err := store.AccountsOf(st)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := auth.LoadSecret(filepath.Join(t.TempDir(), "secret.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	control, err := auth.New(t.Context(), auth.Options{Store: accounts, Secret: secret, Issuer: "berth", Service: "registry", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	return newSite(t, cfg, registrytest.Open(t), nil, func(s *site.Services) {
		authz := registry.NewAuthorizer(s.Registry, 0)
		ch, err := charts.New(charts.Options{Registry: s.Registry, Authorizer: authz})
		if err != nil {
			t.Fatal(err)
		}
		s.Charts, s.Access = ch, control
		s.Activity = events.NewAPI(st, authz)
		s.Contents = contents.New(contents.Options{Registry: s.Registry, Store: st, Authorizer: authz})
		if s.Scans, err = scan.New(scan.Options{Registry: s.Registry, Own: s.Registry, Authorizer: authz, Store: st, WorkDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		if s.Replication, err = replication.New(replication.Options{Store: st, Main: s.Registry, Secret: secret}); err != nil {
			t.Fatal(err)
		}
		s.Catalogs = catalogs.New(s.Catalog, s.Replication, catalogs.Indexes{})
		gs, _ := store.GovernanceOf(st)
		ws, _ := store.WebhooksOf(st)
		rs, _ := store.RetentionOf(st)
		s.Governance = governance.New(governance.Options{Store: gs, Accounts: accounts})
		s.Governance.Connect(s.Registry, authz)
		if s.Webhooks, err = webhooks.New(webhooks.Options{Store: ws, Secret: secret}); err != nil {
			t.Fatal(err)
		}
		s.Retention = retention.New(retention.Options{Store: rs, Registry: s.Registry})
	})
}

// TestPagesOnlyAnswerReads: a write to a page path or a GET-only endpoint gets 405 with Allow,
// not the UI's page.
func TestPagesOnlyAnswerReads(t *testing.T) {
	srv := httptest.NewServer(everything(t))
	t.Cleanup(srv.Close)
	for _, c := range []struct{ method, path string }{
		{"POST", "/healthz/deps"}, {"POST", "/readyz"}, {"DELETE", "/repositories/team/app"}, {"PUT", "/"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader("{}"))
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" ||
			!strings.Contains(string(body), `"code":"METHOD_NOT_ALLOWED"`) {
			t.Errorf("%s %s: %d Allow=%q %.120s, want 405 with Allow and a JSON error", c.method, c.path,
				resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
}
