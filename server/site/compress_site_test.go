package site_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
)

// TestSiteCompresses: through Berth's route table a 1,000-tag list and a prerendered page
// arrive brotli- or gzip-compressed as asked, and the same bytes uncompressed when not
// (TestCompressNegotiates does the same for a 10,000-tag answer with details).
func TestSiteCompresses(t *testing.T) {
	dir := t.TempDir()
	if err := demo.Populate(dir, demo.PopulateOptions{Prefix: "big", Repositories: 1, Tags: 1_000}); err != nil {
		t.Fatal(err)
	}
	reg, err := embedded.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { up.Close(); _ = reg.Close() })
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	srv := httptest.NewServer(newSite(t, cfg, up.URL, nil))
	t.Cleanup(srv.Close)

	fetch := func(path, accept string, navigate bool) (string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Accept-Encoding", accept)
		if navigate {
			req.Header.Set("Sec-Fetch-Mode", "navigate")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		switch enc := resp.Header.Get("Content-Encoding"); enc {
		case "br":
			r = brotli.NewReader(resp.Body)
		case "gzip":
			if r, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		b, err := io.ReadAll(r)
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
			t.Fatalf("%s (%s): %d, Vary %q, %v", path, accept, resp.StatusCode, resp.Header.Values("Vary"), err)
		}
		return resp.Header.Get("Content-Encoding"), b
	}
	const tags = "/api/v1/repositories/big/r000000/tags?details=false"
	_, plain := fetch(tags, "identity", false)
	var page api.TagPage
	if err := json.Unmarshal(plain, &page); err != nil || len(page.Tags) != 1_000 {
		t.Fatalf("tag list: %d tags, %v", len(page.Tags), err)
	}
	for _, accept := range []string{"br", "gzip"} {
		if enc, b := fetch(tags, accept, false); enc != accept || !bytes.Equal(b, plain) {
			t.Errorf("tag list asked in %s: sent in %q, %d bytes decoded, want the %d of identity", accept, enc, len(b), len(plain))
		}
		if enc, b := fetch("/", accept, true); enc != accept || !bytes.Contains(b, []byte("<html")) {
			t.Errorf("page asked in %s: sent in %q", accept, enc)
		}
	}
}
