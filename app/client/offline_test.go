package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
)

func TestStorable(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{http.MethodGet, "/api/v1/repositories?limit=10", true},
		{http.MethodGet, "/api/v1/repositories/library/alpine/tags", true},
		{http.MethodGet, "/v2/_catalog?n=1000", true},
		{http.MethodGet, "/api/v1/session", false},
		{http.MethodPost, "/api/v1/session", false},
		{http.MethodDelete, "/api/v1/repositories/x", false},
		{http.MethodGet, "/healthz", false},
	} {
		if got := storable(tc.method, tc.path); got != tc.want {
			t.Errorf("storable(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	berth502 := []byte(`{"error":{"code":"REGISTRY_UNREACHABLE","message":"Cannot reach the registry"}}`)
	for _, tc := range []struct {
		status int
		body   []byte
		want   bool
	}{
		{http.StatusBadGateway, []byte("<html>502 Bad Gateway</html>"), true},
		{http.StatusServiceUnavailable, nil, true},
		{http.StatusBadGateway, berth502, false}, // Berth is up; the registry is not
		{http.StatusNotFound, nil, false},
		{http.StatusOK, nil, false},
	} {
		if got := unreachable(tc.status, tc.body); got != tc.want {
			t.Errorf("unreachable(%d, %q) = %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestStatusFollowsRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"repositories":[{"name":"a"}],"total":1}`))
	}))
	var seen []Connectivity
	stop := Watch(func(c Connectivity) { seen = append(seen, c) })
	defer stop()

	c := New(srv.URL, false)
	if _, err := c.Repositories(context.Background(), api.RepositoryQuery{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if Status().Offline {
		t.Fatal("offline after a successful request")
	}
	srv.Close()
	_, err := c.Repositories(context.Background(), api.RepositoryQuery{Limit: 10})
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeOffline || !Offline(err) {
		t.Fatalf("unreachable server: got %v, want OFFLINE (nothing is stored outside the browser)", err)
	}
	if s := Status(); !s.Offline || !s.DataFrom.IsZero() {
		t.Errorf("status after a failure: %+v", s)
	}
	setStatus(true, time.Unix(200, 0))
	setStatus(true, time.Unix(100, 0))
	setStatus(true, time.Unix(300, 0))
	if got := Status().DataFrom; !got.Equal(time.Unix(100, 0)) {
		t.Errorf("DataFrom %v, want the oldest stored answer's time", got)
	}
	setStatus(false, time.Time{})
	if len(seen) < 3 || !seen[len(seen)-1].DataFrom.IsZero() || seen[len(seen)-1].Offline {
		t.Errorf("watcher saw %+v", seen)
	}
}

// TestTagRowsKeptForOffline: every tag of a repository, read in rows, is kept as it came and
// read back in rows once the server is gone.
func TestTagRowsKeptForOffline(t *testing.T) {
	storage = mapStorage{}
	t.Cleanup(func() { storage = noStorage{}; owner.loaded = false; setStatus(false, time.Time{}) })
	page := api.TagPage{Repository: "library/alpine", Total: 1, Limit: 1, Tags: []api.Tag{{Name: "latest", Digest: "sha256:aa", Size: 3}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.TagRowsType)
		_ = api.WriteTagRows(w, page)
	}))
	c := &Berth{Base: srv.URL}
	if got, err := c.AllTags(context.Background(), "library/alpine"); err != nil || len(got.Tags) != 1 {
		t.Fatalf("online: %+v, %v", got, err)
	}
	srv.Close()
	got, err := c.AllTags(context.Background(), "library/alpine")
	if err != nil || len(got.Tags) != 1 || got.Tags[0].Name != "latest" || got.Tags[0].Digest != "sha256:aa" {
		t.Fatalf("offline: %+v, %v; want the stored rows", got, err)
	}
	if !Status().Offline {
		t.Error("the stored answer was not marked offline")
	}
}
