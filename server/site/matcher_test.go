package site

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRepositoryRoutes: the one matcher takes the repository name, slashes and all, as what
// precedes the first listed tail that matches; values of the tail's wildcards are path values.
func TestRepositoryRoutes(t *testing.T) {
	var got string
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got = name + " " + r.PathValue("repository") + " " + r.PathValue("ref") + r.PathValue("version") + r.PathValue("digest")
		}
	}
	rr := repositoryRoutes{
		{"manifests/{ref}", record("manifest")},
		{"tags", record("tags")},
		{"versions", record("versions")},
		{"versions/{version}", record("version")},
		{"-/image/{ref}", record("image")},
		{"-/image/{ref}/layers/{digest}", record("layer")},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x/{path...}", rr.serve)
	for path, want := range map[string]string{
		"team/api/server/tags":                     "tags team/api/server ",
		"team/api/manifests/v1":                    "manifest team/api v1",
		"a/manifests/tags":                         "manifest a tags", // manifests are listed first
		"a/versions/versions":                      "versions a/versions ",
		"a/versions/1.0.0":                         "version a 1.0.0",
		"look/inside/-/image/v1":                   "image look/inside v1",
		"look/inside/-/image/v1/layers/sha256:abc": "layer look/inside v1sha256:abc",
		"tags":                        "404", // no repository
		"a/manifests/v1/more":         "404",
		"look/inside/-/image/v1/nope": "404",
	} {
		got = "404"
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x/"+path, nil))
		if got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}
