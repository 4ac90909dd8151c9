package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
)

// The tag table's severities look for cosign's tags in the tag list its page read (the
// catalog keeps it per caller): a batch lists none of a large repository's tags again.
func TestSeveritiesUseTheTagListThePageRead(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "sev", Repositories: 1, Tags: 3, Distinct: true}); err != nil {
		t.Fatal(err)
	}
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var lists atomic.Int64 // whole tag lists (the access check asks for one tag)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") && r.URL.Query().Get("n") == "" {
			lists.Add(1)
		}
		reg.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() { up.Close(); reg.Close() })
	base := startBerth(t, func(c *config.Config) {
		c.NoDemo = true
		c.Registry = up.URL
		c.SyncInterval = 0
	})
	var page api.TagPage
	if code := apiGet(t, base+"/api/v1/repositories/sev/r000000/tags?limit=all", &page); code != http.StatusOK || len(page.Tags) != 3 {
		t.Fatalf("tags: %d, %+v", code, page)
	}
	before := lists.Load()
	q := url.Values{}
	for _, tag := range page.Tags {
		q.Add("digest", tag.Digest)
	}
	var batch api.SeverityBatch
	if code := apiGet(t, base+"/api/v1/contents/sev/r000000/-/severities?"+q.Encode(), &batch); code != http.StatusOK || len(batch.Severities) != 3 || len(batch.Errors) != 0 {
		t.Fatalf("severities: %d, %+v", code, batch)
	}
	if n := lists.Load() - before; n != 0 {
		t.Errorf("a batch of severities listed the tags %d times after the page had, want none", n)
	}
}
