package auth_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
)

// chartArchive is a minimal chart NAME-VERSION.tgz, as helm package writes it.
func chartArchive(t *testing.T, name, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for file, body := range map[string]string{
		name + "/Chart.yaml":  "apiVersion: v2\nname: " + name + "\nversion: " + version + "\ndescription: a test chart\n",
		name + "/values.yaml": "replicas: 1\n",
	} {
		if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestChartIndexFollowsPolicy: with access control only administrators may read the
// registry's catalog, so index.yaml walks the catalog Berth reads and the policy filters
// (charts.Options.List, the catalog service's hook): a developer of web sees web's charts
// and the public namespace's, not eve's.
func TestChartIndexFollowsPolicy(t *testing.T) {
	f := newFixture(t)
	host := f.embeddedRegistry(t)
	reg, err := registry.New(registry.Options{URL: "http://" + host, PerUser: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	own, err := f.c.Connect(registry.Options{URL: "http://" + host, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	authz := f.c.Authorizer(own.Catalog)
	sessions := session.New(time.Hour, f.c.Accounts.CheckSignIn, nil, nil)
	// One chart service per upload prefix (namespace); all read the same filtered catalog.
	serve := func(prefix string) string {
		cs, err := charts.New(charts.Options{Registry: reg, Prefix: prefix, Authorizer: authz})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		site.API(mux, site.Services{Registry: reg, Charts: cs, Sessions: sessions, Access: f.c, Authenticator: f.c.Accounts}, nil)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	web, eve, pub := serve("web/"), serve("eve/"), serve("pub/")
	upload := func(base, user, name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/charts", bytes.NewReader(chartArchive(t, name, "1.0.0")))
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s uploads %s: %d %s", user, name, resp.StatusCode, body)
		}
	}
	upload(web, "dev", "web-chart")
	upload(eve, "eve", "eve-chart")
	upload(pub, "root", "pub-chart")

	index := func(user string) []string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, web+"/charts/index.yaml", nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var idx struct {
			Entries map[string][]struct{ URLs []string } `json:"entries"`
		}
		if resp.StatusCode != 200 || yaml.Unmarshal(body, &idx) != nil {
			t.Fatalf("%q reads index.yaml: %d %s", user, resp.StatusCode, body)
		}
		var names []string
		for _, n := range []string{"eve-chart", "pub-chart", "web-chart"} {
			if len(idx.Entries[n]) > 0 {
				names = append(names, n)
			}
		}
		return names
	}
	for user, want := range map[string]string{
		"dev":  "pub-chart web-chart",
		"eve":  "eve-chart pub-chart",
		"":     "pub-chart",
		"root": "eve-chart pub-chart web-chart",
	} {
		if got := strings.Join(index(user), " "); got != want {
			t.Errorf("%q sees charts %q, want %q", user, got, want)
		}
	}
}
