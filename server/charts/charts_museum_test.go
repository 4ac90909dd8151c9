package charts_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/repo"
)

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func staticBlob(s string) v1.Layer { return streamLayerOf([]byte(s)) }

func streamLayerOf(b []byte) v1.Layer { return static.NewLayer(b, types.OCILayer) }

func TestMuseumAPI(t *testing.T) {
	e := newEnv(t, charts.Options{Prefix: "charts/"})
	for _, v := range []string{"1.0.0", "1.1.0"} {
		mustStatus(t, upload(t, e.url, "web-"+v+".tgz", pack(t, testChart("web", v)), nil), http.StatusCreated)
	}
	// A raw body works too (curl --data-binary @web-2.0.0.tgz).
	resp, err := http.Post(e.url+"/api/charts", "application/gzip", bytes.NewReader(pack(t, testChart("api", "2.0.0"))))
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, resp, http.StatusCreated)
	resp.Body.Close()

	var all map[string][]repo.ChartVersion
	getJSON(t, e.url+"/api/charts", &all)
	if len(all["web"]) != 2 || all["web"][0].Version != "1.1.0" || len(all["api"]) != 1 {
		t.Errorf("/api/charts = %v", all)
	}
	var one []repo.ChartVersion
	getJSON(t, e.url+"/api/charts/web", &one)
	if len(one) != 2 || one[0].URLs[0] != "web-1.1.0.tgz" {
		t.Errorf("/api/charts/web = %+v", one)
	}
	var latest repo.ChartVersion
	getJSON(t, e.url+"/api/charts/web/latest", &latest)
	if latest.Version != "1.1.0" {
		t.Errorf("latest = %s", latest.Version)
	}

	// The same version again: 409 and the stored manifest stays; with AllowOverwrite, 201.
	before, _ := remote.Head(ref(t, e.host+"/charts/web:1.0.0"))
	changed := testChart("web", "1.0.0")
	changed.Metadata.Description = "changed"
	mustStatus(t, upload(t, e.url, "web-1.0.0.tgz", pack(t, changed), nil), http.StatusConflict)
	after, _ := remote.Head(ref(t, e.host+"/charts/web:1.0.0"))
	if before.Digest != after.Digest {
		t.Error("a refused overwrite changed the tag")
	}
	overClient := registrytest.NewClient(t, registry.Options{URL: "http://" + e.host})
	over, err := charts.New(charts.Options{Registry: overClient, Authorizer: registry.NewAuthorizer(overClient, 0), Prefix: "charts/", PullHost: e.host, AllowOverwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	overMux := http.NewServeMux()
	site.API(overMux, site.Services{Charts: over}, nil)
	overSrv := httptest.NewServer(overMux)
	defer overSrv.Close()
	mustStatus(t, upload(t, overSrv.URL, "web-1.0.0.tgz", pack(t, changed), nil), http.StatusCreated)
	e.svc.Invalidate("charts/web") // what the registry's push notification does
	getJSON(t, e.url+"/api/charts/web/1.0.0", &latest)
	if latest.Description != "changed" {
		t.Errorf("after overwrite, description = %q", latest.Description)
	}

	req, _ := http.NewRequest(http.MethodDelete, e.url+"/api/charts/web/1.1.0", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, resp, http.StatusOK)
	resp.Body.Close()
	mustStatus(t, get(t, e.url+"/api/charts/web/1.1.0"), http.StatusNotFound)
	mustStatus(t, get(t, e.url+"/charts/web-1.1.0.tgz"), http.StatusNotFound)
	if _, err := remote.Head(ref(t, e.host+"/charts/web:1.1.0")); err == nil {
		t.Error("the registry still has web:1.1.0")
	}
	getJSON(t, e.url+"/api/charts/web", &one)
	if len(one) != 1 || one[0].Version != "1.0.0" {
		t.Errorf("after delete = %+v", one)
	}
}
