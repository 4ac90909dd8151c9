package client

import (
	"net/http"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestScopedPaths: a client browsing another endpoint sends catalog reads under
// /api/v1/r/{registry}/, refuses what Berth answers for the main registry alone (rather than
// show the main registry's answer for a same-named repository), and leaves the rest alone.
func TestScopedPaths(t *testing.T) {
	prod := (&Berth{Base: "https://berth.example"}).ForRegistry("prod")
	for _, c := range []struct{ method, path, want string }{
		{http.MethodGet, "/api/v1/repositories?limit=100", "/api/v1/r/prod/repositories?limit=100"},
		{http.MethodGet, "/api/v1/repositories/team/app/manifests/v1", "/api/v1/r/prod/repositories/team/app/manifests/v1"},
		{http.MethodGet, "/api/v1/search?q=team", "/api/v1/search?q=team"},
		{http.MethodGet, "/api/v1/session", "/api/v1/session"},
		{http.MethodGet, "/api/v1/jobs", "/api/v1/jobs"},
		{http.MethodPost, "/api/v1/jobs", ""},
		{http.MethodGet, "/api/v1/access?repository=team/app", ""},
		{http.MethodGet, "/api/v1/stats/team/app?range=7d", ""},
		{http.MethodGet, "/api/v1/contents/team/app/-/index", ""},
	} {
		got, err := prod.scoped(c.method, c.path)
		if c.want == "" {
			if api.ErrorCode(err) != api.CodeNotAvailable {
				t.Errorf("%s %s: %q %v, want refused", c.method, c.path, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %s: %q %v, want %q", c.method, c.path, got, err, c.want)
		}
	}
	if main := prod.ForRegistry(api.MainRegistry); main.Registry != "" {
		t.Errorf("main: %+v", main)
	}
	if got, err := (&Berth{}).scoped(http.MethodPost, "/api/v1/jobs"); err != nil || got != "/api/v1/jobs" {
		t.Errorf("the main registry's client: %q %v", got, err)
	}
}
