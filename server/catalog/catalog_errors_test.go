package catalog_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	const n = 40
	for i := range n {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		push(t, host, fmt.Sprintf("many/tags:t%02d", i), img)
	}

	for _, concurrency := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			rec := newRecorder()
			rec.delay = 5 * time.Millisecond
			svc := newService(t, host, rec, concurrency)
			page := tags(t, svc, "many/tags")
			if len(page.Tags) != n || page.Total != n {
				t.Fatalf("got %d of %d tags, want %d", len(page.Tags), page.Total, n)
			}
			for _, tag := range page.Tags {
				if tag.Error != "" || tag.Kind != "image" || tag.Size <= 0 {
					t.Errorf("%s = %+v, want a described image", tag.Name, tag)
				}
			}
			// Every tag needs its manifest and its config: plenty of chances to overlap.
			if got := rec.count(http.MethodGet, "/manifests/") - rec.count(http.MethodGet, "/manifests/sha256:"); got != n {
				t.Errorf("%d manifest requests by tag, want %d", got, n)
			}
			maxSeen := rec.maxInFlight.Load()
			if maxSeen > int64(concurrency) {
				t.Errorf("%d requests in flight at once, want at most %d", maxSeen, concurrency)
			}
			if concurrency > 1 && maxSeen < 2 {
				t.Errorf("at most %d request in flight, want requests to overlap", maxSeen)
			}
		})
	}
}

func TestRegistryDown(t *testing.T) {
	t.Parallel()
	// A port that was just listened on and is now closed refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	svc := newService(t, host, nil, 4)

	t.Run("repositories", func(t *testing.T) {
		_, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 100})
		wantHTTPError(t, err, http.StatusServiceUnavailable, api.CodeRegistryUnavailable)
	})
	t.Run("tags", func(t *testing.T) {
		_, err := svc.Tags(t.Context(), "library/alpine", catalog.TagQuery{Offset: 0, Limit: 100})
		wantHTTPError(t, err, http.StatusServiceUnavailable, api.CodeRegistryUnavailable)
	})
}

func TestRegistryErrorStatus(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	tests := []struct {
		status     int
		wantStatus int
		wantCode   api.Code
	}{
		{http.StatusUnauthorized, http.StatusUnauthorized, api.CodeUnauthorized},
		// 403 and 404 are a registry refusing its catalog (GitLab, GHCR, Harbor): the list
		// is what Berth knows of otherwise, marked as such.
		{http.StatusForbidden, 0, ""},
		{http.StatusNotFound, 0, ""},
		{http.StatusTeapot, http.StatusBadGateway, api.CodeRegistryError},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			// The ping reaches the real registry; the catalog read gets the status under test.
			rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if req.URL.Path != "/v2/_catalog" {
					return http.DefaultTransport.RoundTrip(req)
				}
				return &http.Response{
					StatusCode: tt.status,
					Header:     http.Header{"Content-Type": {"application/json"}},
					Body:       io.NopCloser(strings.NewReader(`{"errors":[{"code":"DENIED","message":"no"}]}`)),
					Request:    req,
				}, nil
			})
			svc := newService(t, host, rt, 4)
			page, err := svc.Repositories(t.Context(), catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 100})
			if tt.wantStatus == 0 {
				if err != nil || !page.CatalogRefused {
					t.Fatalf("refused catalog: %+v, %v; want an answer marked catalogRefused", page, err)
				}
				return
			}
			wantHTTPError(t, err, tt.wantStatus, tt.wantCode)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
