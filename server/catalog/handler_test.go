package catalog_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/site"
)

// apiServer serves the catalog at /api/v1/ through the site's route table, with
// something else on / to show the API does not answer outside its prefix.
func apiServer(t *testing.T, host string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	site.API(mux, site.Services{Catalog: newService(t, host, nil, 4)}, nil)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "ui", http.StatusTeapot)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// call makes a request and returns the status, headers and body.
func call(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func wantJSON(t *testing.T, h http.Header) {
	t.Helper()
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// decodeStrict decodes body into v, failing on fields v does not know.
func decodeStrict(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	host := seededRegistry(t)
	srv := apiServer(t, host)

	t.Run("repositories", func(t *testing.T) {
		status, h, body := call(t, http.MethodGet, srv.URL+"/api/v1/repositories?q=alpine")
		if status != http.StatusOK {
			t.Fatalf("status %d, body %s", status, body)
		}
		wantJSON(t, h)
		if cc := h.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("body is not a JSON object: %s", body)
		}
		var keys []string
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"limit", "offset", "query", "repositories", "total", "updated"}; !slices.Equal(keys, want) {
			t.Errorf("keys = %q, want %q", keys, want)
		}
		var page api.RepositoryPage
		decodeStrict(t, body, &page)
		want := []api.Repository{{Name: "library/alpine"}}
		if !slices.Equal(page.Repositories, want) || page.Total != 1 || page.Offset != 0 || page.Limit != 100 || page.Query != "alpine" {
			t.Errorf("page = %+v, want library/alpine alone with the default limit 100", page)
		}
		if page.Updated.IsZero() {
			t.Error("updated is missing")
		}
	})

	t.Run("repositories paging", func(t *testing.T) {
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/repositories?offset=1&limit=2")
		if status != http.StatusOK {
			t.Fatalf("status %d, body %s", status, body)
		}
		var page api.RepositoryPage
		decodeStrict(t, body, &page)
		if len(page.Repositories) != 2 || page.Offset != 1 || page.Limit != 2 || page.Total < 3 {
			t.Errorf("page = %+v, want 2 repositories from offset 1", page)
		}
	})

	t.Run("no match is an empty list", func(t *testing.T) {
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/repositories?q=nothing-like-this")
		if status != http.StatusOK || !strings.Contains(string(body), `"repositories":[]`) || !strings.Contains(string(body), `"total":0`) {
			t.Errorf("status %d, body %s; want 200 with an empty list", status, body)
		}
	})

	t.Run("tags", func(t *testing.T) {
		status, h, body := call(t, http.MethodGet, srv.URL+"/api/v1/repositories/library/postgres/tags?limit=2&offset=1")
		if status != http.StatusOK {
			t.Fatalf("status %d, body %s", status, body)
		}
		wantJSON(t, h)
		var page api.TagPage
		decodeStrict(t, body, &page)
		if page.Repository != "library/postgres" || page.Total != 6 || page.Offset != 1 || page.Limit != 2 || page.PullHost != host {
			t.Errorf("page = %+v", page)
		}
		var names []string
		for _, tag := range page.Tags {
			names = append(names, tag.Name)
			if tag.Kind != "image" || tag.Size <= 0 || !strings.HasPrefix(tag.Digest, "sha256:") {
				t.Errorf("tag %+v, want a described image", tag)
			}
		}
		if want := []string{"16", "16.4"}; !slices.Equal(names, want) {
			t.Errorf("tags = %q, want %q", names, want)
		}
	})

	t.Run("every tag in rows", func(t *testing.T) {
		url := srv.URL + "/api/v1/repositories/library/postgres/tags?limit=all"
		_, _, body := call(t, http.MethodGet, url)
		var want api.TagPage
		decodeStrict(t, body, &want)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		req.Header.Set("Accept", api.TagRowsType+", application/json;q=0.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, api.TagRowsType) {
			t.Fatalf("status %d, Content-Type %q, want %s", resp.StatusCode, ct, api.TagRowsType)
		}
		got, err := api.ReadTagRows(rows)
		if err != nil || got.Total != want.Total || got.PullHost != want.PullHost || len(got.Tags) != len(want.Tags) || len(got.Tags) == 0 {
			t.Fatalf("rows read as %+v, %v; want %+v", got, err, want)
		}
		for i, g := range got.Tags {
			w := want.Tags[i]
			if g.Name != w.Name || g.Digest != w.Digest || g.Size != w.Size || !g.Created.Equal(w.Created) || len(g.Platforms) != len(w.Platforms) {
				t.Errorf("row %d = %+v, want %+v", i, g, w)
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		status, h, body := call(t, http.MethodHead, srv.URL+"/api/v1/repositories")
		if status != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD: status %d, %d body bytes; want 200 and no body", status, len(body))
		}
		wantJSON(t, h)
	})

	errorCases := []struct {
		name      string
		method    string
		path      string
		status    int
		code      api.Code
		inMessage string
	}{
		{"limit zero", http.MethodGet, "/api/v1/repositories?limit=0", http.StatusBadRequest, api.CodeBadRequest, "limit"},
		{"limit too large", http.MethodGet, "/api/v1/repositories?limit=5000", http.StatusBadRequest, api.CodeBadRequest, "limit"},
		{"limit not a number", http.MethodGet, "/api/v1/repositories?limit=x", http.StatusBadRequest, api.CodeBadRequest, "limit"},
		{"negative offset", http.MethodGet, "/api/v1/repositories?offset=-1", http.StatusBadRequest, api.CodeBadRequest, "offset"},
		{"offset not a number", http.MethodGet, "/api/v1/repositories?offset=two", http.StatusBadRequest, api.CodeBadRequest, "offset"},
		{"bad limit on tags", http.MethodGet, "/api/v1/repositories/library/alpine/tags?limit=1001", http.StatusBadRequest, api.CodeBadRequest, "limit"},
		{"POST", http.MethodPost, "/api/v1/repositories", http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "POST"},
		{"DELETE", http.MethodDelete, "/api/v1/repositories/library/alpine/tags", http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "DELETE"},
		{"unknown endpoint", http.MethodGet, "/api/v1/nothing", http.StatusNotFound, api.CodeNotFound, "/api/v1/nothing"},
		{"API root", http.MethodGet, "/api/v1/", http.StatusNotFound, api.CodeNotFound, ""},
		{"unknown repository", http.MethodGet, "/api/v1/repositories/library/nothing/tags", http.StatusNotFound, api.CodeNotFound, "library/nothing"},
		{"invalid repository", http.MethodGet, "/api/v1/repositories/UPPER/case/tags", http.StatusBadRequest, api.CodeNameInvalid, "UPPER/case"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := call(t, tt.method, srv.URL+tt.path)
			if status != tt.status {
				t.Errorf("status %d, want %d (body %s)", status, tt.status, body)
			}
			wantJSON(t, h)
			var e api.ErrorBody
			decodeStrict(t, body, &e)
			if e.Error.Code != tt.code || e.Error.Message == "" || !strings.Contains(e.Error.Message, tt.inMessage) {
				t.Errorf("error = %+v, want code %s and a message naming %q", e.Error, tt.code, tt.inMessage)
			}
			if status == http.StatusMethodNotAllowed && h.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want GET, HEAD", h.Get("Allow"))
			}
		})
	}

	t.Run("outside the prefix", func(t *testing.T) {
		status, _, _ := call(t, http.MethodGet, srv.URL+"/api/repositories")
		if status != http.StatusTeapot {
			t.Errorf("status %d: the API answered outside /api/v1/", status)
		}
	})
}
