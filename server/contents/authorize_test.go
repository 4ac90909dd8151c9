package contents_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// refusing is an authorizer that lets everyone pull everything but the repositories listed.
type refusing map[string]bool

func (z refusing) Authorize(ctx context.Context, repository string, want access.Actions) error {
	if z[repository] {
		return access.Refuse(access.From(ctx), repository, want, 0)
	}
	return nil
}

func (z refusing) Repositories(context.Context) ([]string, error) { return nil, nil }
func (z refusing) Everything(context.Context) (bool, error)       { return false, nil }

// TestAuthorizerAskedFirst: when the authorizer refuses a repository, every contents endpoint
// (both sides of a diff) answers its refusal without a single request to the registry — even
// though the registry itself would have served the image.
func TestAuthorizerAskedFirst(t *testing.T) {
	upstream := openRegistry(t)
	host := strings.TrimPrefix(upstream, "http://")
	layers := testLayers(t)
	digest := push(t, host, "look/secret", "v1", layers, nil)
	push(t, host, "look/open", "v1", layers, nil)
	ld := layerDigests(t, layers...)

	var requests atomic.Int64
	up, _ := url.Parse(upstream)
	proxy := httputil.NewSingleHostReverseProxy(up)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	reg := registrytest.NewClient(t, registry.Options{URL: counting.URL})
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := contents.New(contents.Options{Registry: reg, Store: st, Authorizer: refusing{"look/secret": true}})
	mux := http.NewServeMux()
	site.API(mux, site.Services{Contents: svc}, nil)
	berth := httptest.NewServer(mux)
	t.Cleanup(berth.Close)

	base := "/api/v1/contents/look/secret/-/image/v1"
	refused := []string{
		base, base + "/index", base + "/layers/" + ld[0], base + "/tree?path=/etc", base + "/tree?q=os",
		base + "/file?path=/etc/os-release", base + "/file?path=/etc/os-release&download=1",
		base + "/supply-chain", "/api/v1/contents/look/secret/-/severities?digest=" + url.QueryEscape(digest),
		"/api/v1/diff?from=look/secret:v1&to=look/open:v1",
		"/api/v1/diff?from=look/open:v1&to=look/secret:v1",
	}
	for _, p := range refused {
		before := requests.Load()
		resp, err := http.Get(berth.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s = %d, want the authorizer's 401", p, resp.StatusCode)
		}
		if n := requests.Load() - before; n != 0 {
			t.Errorf("GET %s sent %d registry requests before the refusal", p, n)
		}
	}
	// The same service serves what the authorizer allows: the refusal was its, not the registry's.
	resp, err := http.Get(berth.URL + "/api/v1/contents/look/open/-/image/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || requests.Load() == 0 {
		t.Errorf("allowed image = %d after %d registry requests", resp.StatusCode, requests.Load())
	}
}
