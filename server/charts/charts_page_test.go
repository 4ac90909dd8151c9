package charts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/net/html"
	"helm.sh/helm/v3/pkg/repo"
)

// TestChartPageData: the chart API shows Chart.yaml, a safe README, values, schema,
// templates, provenance, signatures and commands; versions sort by semver.
func TestChartPageData(t *testing.T) {
	e := newEnv(t, charts.Options{Prefix: "charts/", PullHost: "registry.example.com"})
	for _, v := range []string{"0.9.0", "0.10.0-rc.1", "0.10.0", "0.2.0"} {
		tgz := pack(t, testChart("web", v))
		var prov []byte
		if v == "0.10.0" {
			prov = provFor("web-0.10.0.tgz", tgz)
		}
		mustStatus(t, upload(t, e.url, "web-"+v+".tgz", tgz, prov), http.StatusCreated)
	}
	var vs api.ChartVersions
	getJSON(t, e.url+"/api/v1/charts/charts/web/versions", &vs)
	var order []string
	for _, v := range vs.Versions {
		order = append(order, v.Version)
	}
	if strings.Join(order, " ") != "0.10.0 0.10.0-rc.1 0.9.0 0.2.0" || vs.Name != "web" {
		t.Errorf("versions = %v (name %q), want semver order", order, vs.Name)
	}

	// A signature referring to the chart manifest, pushed as cosign/notation would.
	subject, err := remote.Head(ref(t, e.host+"/charts/web:0.10.0"))
	if err != nil {
		t.Fatal(err)
	}
	sig := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subject.Digest.String() + `","size":` + jsonInt(subject.Size) + `}}`)
	sigRepo := ref(t, e.host+"/charts/web:x").Context()
	if err := remote.WriteLayer(sigRepo, staticBlob("{}")); err != nil {
		t.Fatal(err)
	}
	sh, _, _ := v1.SHA256(bytes.NewReader(sig))
	if _, err := registrytest.NewClient(t, registry.Options{URL: "http://" + e.host}).PutManifest(context.Background(), "charts/web", sh.String(), sig, "application/vnd.oci.image.manifest.v1+json"); err != nil {
		t.Fatal(err)
	}

	var c api.Chart
	getJSON(t, e.url+"/api/v1/charts/charts/web/versions/0.10.0", &c)
	m := c.Metadata
	if m.Name != "web" || m.Version != "0.10.0" || m.AppVersion != "2.4.1" || m.Type != "application" ||
		m.KubeVersion != ">=1.25.0-0" || m.Home == "" || len(m.Sources) != 1 || len(m.Keywords) != 2 || m.Icon == "" ||
		len(m.Maintainers) != 2 || m.Maintainers[0].Email != "ada@example.com" {
		t.Errorf("metadata = %+v", m)
	}
	if len(m.Dependencies) != 1 || m.Dependencies[0].Version != "~18.1.0" || m.Dependencies[0].Repository == "" {
		t.Errorf("dependencies = %+v", m.Dependencies)
	}
	if !strings.Contains(c.Values, "replicaCount: 2") || c.ValuesTree["replicaCount"] != float64(2) {
		t.Errorf("values = %q, tree %v", c.Values, c.ValuesTree)
	}
	if !strings.Contains(c.ValuesSchema, `"minimum":1`) {
		t.Errorf("schema = %q", c.ValuesSchema)
	}
	if strings.Join(c.Templates, ",") != "templates/deployment.yaml,templates/service.yaml" {
		t.Errorf("templates = %v", c.Templates)
	}
	if !strings.Contains(c.Provenance, "sha256:") {
		t.Errorf("provenance = %q", c.Provenance)
	}
	if len(c.Signatures) != 1 || c.Signatures[0].Digest != sh.String() || c.Signatures[0].ArtifactType == "" {
		t.Errorf("signatures = %+v, want %s", c.Signatures, sh)
	}
	if c.Install != "helm install web oci://registry.example.com/charts/web --version 0.10.0" ||
		c.Pull != "helm pull oci://registry.example.com/charts/web --version 0.10.0" {
		t.Errorf("commands = %q / %q", c.Install, c.Pull)
	}
	checkSafeHTML(t, c.ReadmeHTML)
	for _, want := range []string{"<h1", "<strong>now</strong>", "&lt;script&gt;", "<table>"} {
		if !strings.Contains(c.ReadmeHTML, want) {
			t.Errorf("README HTML lacks %q:\n%s", want, c.ReadmeHTML)
		}
	}

	// Cached by digest the second time, still with the signature and the caller's repository.
	var again api.Chart
	getJSON(t, e.url+"/api/v1/charts/charts/web/versions/0.10.0", &again)
	if again.ReadmeHTML != c.ReadmeHTML || len(again.Signatures) != 1 {
		t.Errorf("second read differs: %+v", again.Signatures)
	}

	for path, code := range map[string]int{
		"/api/v1/charts/charts/web/versions/9.9.9":  http.StatusNotFound,
		"/api/v1/charts/charts/web/versions/banana": http.StatusBadRequest,
		"/api/v1/charts/Charts/Web/versions":        http.StatusBadRequest,
		"/api/v1/charts/charts/none/versions":       http.StatusNotFound,
		"/api/v1/charts/charts/web":                 http.StatusNotFound,
	} {
		resp := get(t, e.url+path)
		b := mustStatus(t, resp, code)
		var eb api.ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Errorf("%s: body %s is not {error:{code,message}}", path, b)
		}
	}
}

// checkSafeHTML parses s as the browser would and fails on any script element, event
// handler attribute or javascript: URL.
func checkSafeHTML(t *testing.T, s string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" || n.Data == "iframe" || n.Data == "object" {
				t.Errorf("README HTML has a live <%s>:\n%s", n.Data, s)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					t.Errorf("README HTML has attribute %s=%q:\n%s", a.Key, a.Val, s)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// TestDemoCharts: the demo's charts load with Helm's loader and sort by semver.
func TestDemoCharts(t *testing.T) {
	e := newEnv(t, charts.Options{Prefix: "charts/"})
	if err := demo.Seed(context.Background(), e.host); err != nil {
		t.Fatal(err)
	}
	var vs api.ChartVersions
	getJSON(t, e.url+"/api/v1/charts/charts/web-app/versions", &vs)
	var order []string
	for _, v := range vs.Versions {
		order = append(order, v.Version)
	}
	if strings.Join(order, " ") != "2.0.0-beta.1 1.10.0 1.2.0 1.0.0" {
		t.Errorf("web-app versions = %v", order)
	}
	// The page opens on the newest stable version; the beta is marked, the others not.
	if vs.Latest != "1.10.0" || !vs.Versions[0].Prerelease || vs.Versions[1].Prerelease {
		t.Errorf("web-app latest = %q, versions %+v", vs.Latest, vs.Versions)
	}
	var beta api.Chart
	getJSON(t, e.url+"/api/v1/charts/charts/web-app/versions/2.0.0-beta.1", &beta)
	if !beta.Prerelease || !strings.HasSuffix(beta.Install, "--version 2.0.0-beta.1") {
		t.Errorf("web-app beta = prerelease %v, install %q", beta.Prerelease, beta.Install)
	}
	var c api.Chart
	getJSON(t, e.url+"/api/v1/charts/charts/web-app/versions/1.10.0", &c)
	if c.Prerelease || !strings.HasSuffix(c.Install, "--version 1.10.0") ||
		len(c.Metadata.Dependencies) != 1 || c.Metadata.Dependencies[0].Version != "~7.2.0" ||
		c.ValuesSchema == "" || !strings.Contains(c.ReadmeHTML, "<table>") || len(c.Templates) != 3 {
		t.Errorf("web-app 1.10.0 = %+v", c)
	}
	b := mustStatus(t, get(t, e.url+"/charts/index.yaml"), http.StatusOK)
	p := filepath.Join(t.TempDir(), "index.yaml")
	_ = os.WriteFile(p, b, 0o600)
	idx, err := repo.LoadIndexFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][2]string{{"web-app", "1.0.0"}, {"redis-cache", "7.2.4"}, {"berth-demo", "0.1.0"}} {
		if !idx.Has(want[0], want[1]) {
			t.Errorf("index.yaml lacks %s %s", want[0], want[1])
		}
	}
}
