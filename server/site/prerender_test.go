package site_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

var seedScript = regexp.MustCompile(`<script type="application/json" id="berth-seed">(.*?)</script>`)

// page GETs path as a browser navigating to it does, with the session cookies, and returns
// the response and the page's seed ("" when it has none).
func page(t *testing.T, url string, navigate bool, cookies ...*http.Cookie) (*http.Response, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if navigate {
		req.Header.Set("Sec-Fetch-Mode", "navigate")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := seedScript.FindStringSubmatch(string(b))
	if m == nil {
		return resp, string(b), ""
	}
	return resp, string(b), m[1]
}

// Pages are prerendered with exactly what their requester may read, never kept for another,
// and their data cannot break out of the script element that carries it.
func TestPagesArriveWithTheRequestersData(t *testing.T) {
	const password = "s3cret-Password-42"
	const evil = `</script><script>alert(1)</script><!--`
	base := registrytest.Htpasswd(t, map[string]string{"alice": password})
	img, _ := random.Image(256, 1)
	cf, _ := img.ConfigFile()
	cf.Config.Labels = map[string]string{"note": evil}
	img, _ = mutate.ConfigFile(img, cf)
	ref, _ := name.ParseReference(strings.TrimPrefix(base, "http://")+"/private/app:1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "alice", Password: password}))); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	srv := httptest.NewServer(newSite(t, cfg, base, nil))
	defer srv.Close()

	resp, _ := request(t, http.MethodPost, srv.URL+"/api/v1/session", "application/json", `{"username":"alice","password":"`+password+`"}`)
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) == 0 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	alice := resp.Cookies()

	// Alice's catalog comes with her page, marked hers alone.
	resp, _, seed := page(t, srv.URL+"/", true, alice...)
	if !strings.Contains(seed, `"/api/v1/repositories?limit=200\u0026offset=0"`) || !strings.Contains(seed, "private/app") {
		t.Fatalf("alice's catalog page carries %q", seed)
	}
	if cc, etag := resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"); cc != "private, no-store" || etag != "" {
		t.Errorf("a page with data has Cache-Control %q and ETag %q", cc, etag)
	}
	// Right after, an anonymous visitor, whom the registry refuses, gets a page without it.
	if _, body, seed := page(t, srv.URL+"/", true); seed != "" || strings.Contains(body, "private/app") {
		t.Errorf("anonymous page carries %q", seed)
	}
	// Requests that are not a navigation (the service worker filling its cache) get none.
	if _, _, seed := page(t, srv.URL+"/", false, alice...); seed != "" {
		t.Errorf("a page fetched outside navigation carries %q", seed)
	}

	// The repository page comes with its first tags' details (all of them here).
	_, _, seed = page(t, srv.URL+"/repositories/private/app", true, alice...)
	var s struct {
		Page    string
		Answers map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(seed), &s); err != nil {
		t.Fatalf("repository seed %q: %v", seed, err)
	}
	var tags api.TagPage
	if err := json.Unmarshal(s.Answers["/api/v1/repositories/private/app/tags?offset=0&limit=100&sort=-created"], &tags); err != nil ||
		s.Page != "/repositories/private/app" || len(tags.Tags) != 1 || tags.Total != 1 || tags.Tags[0].Size == 0 {
		t.Fatalf("repository seed: page %q, tags %+v, %v", s.Page, tags, err)
	}

	// The manifest page comes whole, and a label made to end the script element stays inside
	// it: escaped in the page, intact once decoded.
	_, body, seed := page(t, srv.URL+"/repositories/private/app:1", true, alice...)
	if strings.Contains(body, "<script>alert(1)") || strings.Count(body, "</script>") != strings.Count(body, "<script") {
		t.Fatalf("the label broke out of the seed:\n%s", body)
	}
	if err := json.Unmarshal([]byte(seed), &s); err != nil {
		t.Fatalf("manifest seed %q: %v", seed, err)
	}
	var m api.Manifest
	if err := json.Unmarshal(s.Answers["/api/v1/repositories/private/app/manifests/1"], &m); err != nil || m.Image == nil ||
		m.Image.Config.Labels["note"] != evil {
		t.Fatalf("manifest seed: %+v, %v", m.Image, err)
	}
}
