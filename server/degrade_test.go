package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestDatabaseDown stops the PostgreSQL under a running Berth: no /api/v1 endpoint answers
// 500; the catalog by name still answers from the registry, what needs the database answers
// 503 STORE_UNAVAILABLE.
func TestDatabaseDown(t *testing.T) {
	pg := storetest.StartPostgres(t)
	base := runDegraded(t, func(cfg *config.Config) { cfg.Database = pg.NewDatabase(t) })
	waitFor(t, "the demo catalog in the index", time.Minute, func() bool {
		var page api.RepositoryPage
		return apiCall(t, http.MethodGet, base+"/api/v1/repositories", nil, &page) == 200 && !page.Partial && len(page.Repositories) > 0
	})
	pg.Stop(t)

	var page api.RepositoryPage
	if code := apiCall(t, http.MethodGet, base+"/api/v1/repositories", nil, &page); code != 200 || len(page.Repositories) == 0 {
		t.Errorf("catalog by name with the database down: %d, %d repositories; want the registry's list", code, len(page.Repositories))
	}
	copyJob := []byte(`{"kind":"copy","source":"library/alpine:latest","destination":"mine/alpine:1"}`)
	for _, c := range []struct {
		method, path string
		body         []byte
		want         api.Code // "" when a 200 is fine too
	}{
		{"GET", "/api/v1/repositories?sort=-size", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/repositories?kind=image", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/search?q=alpine", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/repositories/library/alpine/tags", nil, ""},
		{"GET", "/api/v1/repositories/library/alpine/tags?details=false", nil, ""},
		{"GET", "/api/v1/repositories/library/alpine/tags?label=org.opencontainers.image.title", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/repositories/library/alpine/manifests/latest", nil, ""},
		{"GET", "/api/v1/repositories/library/alpine/usage", nil, ""},
		{"GET", "/api/v1/repositories/library/alpine/untagged", nil, ""},
		{"GET", "/api/v1/events", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/stats?range=7d", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/jobs", nil, api.CodeStoreUnavailable},
		{"GET", "/api/v1/jobs/1", nil, api.CodeStoreUnavailable},
		{"POST", "/api/v1/jobs", copyJob, api.CodeStoreUnavailable},
		{"GET", "/api/v1/session", nil, ""},
	} {
		var eb api.ErrorBody
		code := apiCall(t, c.method, base+c.path, c.body, &eb)
		switch {
		case code >= 500 && eb.Error.Code == api.CodeInternal, code == 500:
			t.Errorf("%s %s: %d %+v, want no 500", c.method, c.path, code, eb)
		case c.want != "" && (code != c.want.Status() || eb.Error.Code != c.want):
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, code, eb, c.want.Status(), c.want)
		case strings.Contains(eb.Error.Message, "postgres") || strings.Contains(eb.Error.Message, "/tmp/"):
			t.Errorf("%s %s: the message leaks the store's error: %q", c.method, c.path, eb.Error.Message)
		}
	}
}

// runDegraded runs the real server (embedded registry with the demo) on loopback, changed by
// mutate, and returns its URL; its shutdown may fail, since tests break its dependencies.
func runDegraded(t *testing.T, mutate func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.Addr, cfg.EmbeddedAddr, cfg.DataDir, cfg.LogLevel = "127.0.0.1:0", "off", t.TempDir(), "error"
	mutate(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, func(u string, _ *site.Root) { urls <- u }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("berth did not stop")
		}
	})
	select {
	case u := <-urls:
		return u
	case err := <-done:
		t.Fatalf("berth did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("berth did not start in time")
	}
	return ""
}

// apiCall sends a request (a JSON body when body is set) and decodes the JSON answer into out.
func apiCall(t *testing.T, method, url string, body []byte, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, out)
	return resp.StatusCode
}
