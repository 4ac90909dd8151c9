package charts_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/site"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/net/html"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	helmregistry "helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/registrytest"
)

// env is a charts.Service over a real embedded registry, served over loopback HTTP.
type env struct {
	svc  *charts.Service
	host string // registry host:port
	url  string // Berth base URL
}

func newEnv(t *testing.T, opts charts.Options) *env {
	t.Helper()
	base := registrytest.Open(t)
	host := strings.TrimPrefix(base, "http://")
	client := registrytest.NewClient(t, registry.Options{URL: base})
	opts.Registry, opts.Authorizer = client, registry.NewAuthorizer(client, 0)
	if opts.PullHost == "" {
		opts.PullHost = host
	}
	svc, err := charts.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	site.API(mux, site.Services{Charts: svc}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{svc: svc, host: host, url: srv.URL}
}

// testChart is a chart with everything a chart page shows.
func testChart(name, version string) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{
			APIVersion: "v2", Name: name, Version: version, AppVersion: "2.4.1", Type: "application",
			Description: "A web server for tests", Keywords: []string{"web", "http"},
			Home: "https://example.com/" + name, Sources: []string{"https://github.com/example/" + name},
			Maintainers: []*chart.Maintainer{{Name: "Ada", Email: "ada@example.com"}, {Name: "Bo"}},
			Icon:        "https://example.com/icon.png", KubeVersion: ">=1.25.0-0",
			Dependencies: []*chart.Dependency{{Name: "redis", Version: "~18.1.0", Repository: "oci://registry-1.docker.io/bitnamicharts", Condition: "redis.enabled"}},
		},
		Raw:    []*chart.File{{Name: "values.yaml", Data: []byte("replicaCount: 2\nimage:\n  repository: nginx\n  tag: \"1.27\"\nredis:\n  enabled: false\n")}},
		Values: map[string]any{"replicaCount": 2, "image": map[string]any{"repository": "nginx", "tag": "1.27"}, "redis": map[string]any{"enabled": false}},
		Schema: []byte(`{"$schema":"https://json-schema.org/draft-07/schema#","type":"object","properties":{"replicaCount":{"type":"integer","minimum":1}}}`),
		Templates: []*chart.File{
			{Name: "templates/deployment.yaml", Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n")},
			{Name: "templates/service.yaml", Data: []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n")},
		},
		Files: []*chart.File{{Name: "README.md", Data: []byte(readme)}},
	}
}

const readme = "# Web\n\nInstall it **now**.\n\n<script>alert('owned')</script>\n\n" +
	"An image: <img src=x onerror=\"alert(1)\">\n\n[click](javascript:alert(2))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"

// pack saves c with Helm's own chartutil.Save and returns the archive.
func pack(t *testing.T, c *chart.Chart) []byte {
	t.Helper()
	p, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload posts a chart as helm cm-push does: multipart with files "chart" and "prov".
func upload(t *testing.T, base, file string, tgz, prov []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("chart", file)
	_, _ = fw.Write(tgz)
	if prov != nil {
		pw, _ := mw.CreateFormFile("prov", file+".prov")
		_, _ = pw.Write(prov)
	}
	_ = mw.Close()
	resp, err := http.Post(base+"/api/charts", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func mustStatus(t *testing.T, resp *http.Response, want int) []byte {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, b)
	}
	return b
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	b := mustStatus(t, get(t, url), http.StatusOK)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", url, err, b)
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func helmClient(t *testing.T) *helmregistry.Client {
	t.Helper()
	c, err := helmregistry.NewClient(helmregistry.ClientOptPlainHTTP(), helmregistry.ClientOptWriter(io.Discard),
		helmregistry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// provFor is a provenance file naming the archive's digest, as `helm package --sign` writes
// one (unsigned here: Berth stores and shows it, helm verifies it).
func provFor(file string, tgz []byte) []byte {
	return []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: web\n...\nfiles:\n  " + file + ": sha256:" + sha(tgz) + "\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCgAQBQJ=\n-----END PGP SIGNATURE-----\n")
}

// TestUploadThenHelmReadsIt: a ChartMuseum upload is found by Helm in index.yaml, and the
// same bytes come back over the classic protocol and over oci:// with Helm's own client.
func TestUploadThenHelmReadsIt(t *testing.T) {
	e := newEnv(t, charts.Options{Prefix: "charts/"})
	tgz := pack(t, testChart("web", "1.2.3"))
	prov := provFor("web-1.2.3.tgz", tgz)
	mustStatus(t, upload(t, e.url, "web-1.2.3.tgz", tgz, prov), http.StatusCreated)

	// Helm's index loader reads what /charts/index.yaml serves.
	b := mustStatus(t, get(t, e.url+"/charts/index.yaml"), http.StatusOK)
	path := filepath.Join(t.TempDir(), "index.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	idx, err := repo.LoadIndexFile(path)
	if err != nil {
		t.Fatalf("helm cannot load index.yaml: %v\n%s", err, b)
	}
	cv, err := idx.Get("web", "1.2.3")
	if err != nil {
		t.Fatalf("index.yaml lacks web 1.2.3: %v\n%s", err, b)
	}
	if cv.Digest != sha(tgz) || cv.AppVersion != "2.4.1" || len(cv.Dependencies) != 1 || cv.Created.IsZero() {
		t.Errorf("index entry = %+v", cv)
	}

	// Classic pull: the URL resolved against the repository URL, as helm does.
	u, err := repo.ResolveReferenceURL(e.url+"/charts", cv.URLs[0])
	if err != nil {
		t.Fatal(err)
	}
	got := mustStatus(t, get(t, u), http.StatusOK)
	if !bytes.Equal(got, tgz) {
		t.Errorf("classic pull: %d bytes, sha %s; want the uploaded %d bytes", len(got), sha(got), len(tgz))
	}
	if p := mustStatus(t, get(t, u+".prov"), http.StatusOK); !bytes.Equal(p, prov) {
		t.Errorf("classic .prov = %q", p)
	}

	// OCI pull with Helm's registry client, from the registry itself.
	res, err := helmClient(t).Pull(e.host+"/charts/web:1.2.3", helmregistry.PullOptWithProv(true))
	if err != nil {
		t.Fatalf("helm pull oci://: %v", err)
	}
	if !bytes.Equal(res.Chart.Data, tgz) || !bytes.Equal(res.Prov.Data, prov) {
		t.Errorf("oci pull: chart sha %s prov %q", sha(res.Chart.Data), res.Prov.Data)
	}
	if res.Chart.Meta.Name != "web" || res.Chart.Meta.Version != "1.2.3" {
		t.Errorf("oci pull meta = %+v", res.Chart.Meta)
	}
}

// TestUploadIsDigestIdenticalToHelmPush: with the same created time, a ChartMuseum upload
// and `helm push` of the same file make the same manifest, byte for byte.
func TestUploadIsDigestIdenticalToHelmPush(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, charts.Options{Prefix: "charts/", Now: func() time.Time { return created }})
	c := testChart("web", "0.3.0+build.7") // '+' travels as '_' in the tag, as Helm does
	c.Metadata.Annotations = map[string]string{"category": "web", "org.opencontainers.image.title": "ignored"}
	tgz := pack(t, c)
	prov := provFor("web-0.3.0+build.7.tgz", tgz)
	mustStatus(t, upload(t, e.url, "web-0.3.0+build.7.tgz", tgz, prov), http.StatusCreated)

	hc := helmClient(t)
	pushed, err := hc.Push(tgz, e.host+"/helm/web:0.3.0_build.7", helmregistry.PushOptProvData(prov),
		helmregistry.PushOptCreationTime(created.Format(time.RFC3339)), helmregistry.PushOptStrictMode(false))
	if err != nil {
		t.Fatalf("helm push: %v", err)
	}
	ours, err := remote.Get(ref(t, e.host+"/charts/web:0.3.0_build.7"))
	if err != nil {
		t.Fatal(err)
	}
	if ours.Digest.String() != pushed.Manifest.Digest {
		theirs, _ := remote.Get(ref(t, e.host+"/helm/web:0.3.0_build.7"))
		t.Fatalf("upload digest %s, helm push %s\nours:   %s\ntheirs: %s", ours.Digest, pushed.Manifest.Digest, ours.Manifest, theirs.Manifest)
	}

	// Without a shared clock only the created annotation differs: config and layers match.
	e2 := newEnv(t, charts.Options{Prefix: "charts/"})
	mustStatus(t, upload(t, e2.url, "web-0.3.0+build.7.tgz", tgz, nil), http.StatusCreated)
	now, err := helmClient(t).Push(tgz, e2.host+"/charts/web:0.3.0_build.7", helmregistry.PushOptStrictMode(false))
	_ = now
	if err != nil {
		t.Fatal(err)
	}
	d, _ := remote.Get(ref(t, e2.host+"/charts/web:0.3.0_build.7"))
	var m struct {
		Config v1.Descriptor
		Layers []v1.Descriptor
	}
	_ = json.Unmarshal(d.Manifest, &m)
	if m.Config.Digest.String() != pushed.Config.Digest || m.Layers[0].Digest.String() != pushed.Chart.Digest {
		t.Errorf("config/layer %s/%s, helm push %s/%s", m.Config.Digest, m.Layers[0].Digest, pushed.Config.Digest, pushed.Chart.Digest)
	}
}

// TestHelmPushAppearsAfterInvalidate: a chart pushed by Helm into a repository Berth had
// scanned as image-only shows in index.yaml once the push notification invalidates it.
func TestHelmPushAppearsAfterInvalidate(t *testing.T) {
	e := newEnv(t, charts.Options{Prefix: "charts/"})
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, e.host+"/apps/web:1.0.0"), img); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, upload(t, e.url, "other-0.1.0.tgz", pack(t, testChart("other", "0.1.0")), nil), http.StatusCreated)

	index := func() *repo.IndexFile {
		b := mustStatus(t, get(t, e.url+"/charts/index.yaml"), http.StatusOK)
		p := filepath.Join(t.TempDir(), "index.yaml")
		_ = os.WriteFile(p, b, 0o600)
		idx, err := repo.LoadIndexFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	if idx := index(); !idx.Has("other", "0.1.0") || len(idx.Entries) != 1 {
		t.Fatalf("index entries = %v", idx.Entries)
	}
	// Packed once: an archive carries its packing time, so two packs a second apart differ.
	pushed := pack(t, testChart("web", "2.0.0"))
	if _, err := helmClient(t).Push(pushed, e.host+"/apps/web:2.0.0", helmregistry.PushOptStrictMode(false)); err != nil {
		t.Fatal(err)
	}
	// apps/web is known to hold no chart; without a notification it is not read again.
	if idx := index(); idx.Has("web", "2.0.0") {
		t.Fatal("apps/web was read again without an Invalidate: the scan cache is not used")
	}
	e.svc.Invalidate("apps/web")
	if idx := index(); !idx.Has("web", "2.0.0") || !idx.Has("other", "0.1.0") {
		t.Fatalf("after Invalidate, index entries = %v", idx.Entries)
	}
	// And the classic pull of a chart outside the prefix finds it through the index.
	got := mustStatus(t, get(t, e.url+"/charts/web-2.0.0.tgz"), http.StatusOK)
	if !bytes.Equal(got, pushed) {
		t.Error("web-2.0.0.tgz differs from what helm pushed")
	}
}

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

// tarGz packs files (path → content) without Helm, to make archives Helm would refuse.
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// TestUploadRefusesBadInput: every refusal is a clear 4xx and leaves the registry empty.
func TestUploadRefusesBadInput(t *testing.T) {
	good := pack(t, testChart("web", "1.0.0"))
	for _, tc := range []struct {
		name, file string
		tgz, prov  []byte
		status     int
		says       string
	}{
		{"no Chart.yaml", "web-1.0.0.tgz", tarGz(t, map[string]string{"web/values.yaml": "a: 1\n"}), nil, 400, "Chart.yaml"},
		{"name differs from the file", "api-1.0.0.tgz", good, nil, 400, "holds chart web"},
		{"version differs from the file", "web-1.0.1.tgz", good, nil, 400, "version 1.0.0"},
		{"invalid semver", "web.tgz", tarGz(t, map[string]string{"web/Chart.yaml": "apiVersion: v2\nname: web\nversion: one\n"}), nil, 400, "version"},
		{"corrupt archive", "web-1.0.0.tgz", []byte("\x1f\x8bthis is not gzip at all"), nil, 400, "not a valid chart"},
		{"cut short", "web-1.0.0.tgz", good[:len(good)/2], nil, 400, "not a valid chart"},
		{"oversized", "web-1.0.0.tgz", append(bytes.Clone(good), make([]byte, 64<<10)...), nil, 413, "limit"},
		{"provenance of another archive", "web-1.0.0.tgz", good, provFor("web-1.0.0.tgz", []byte("other")), 400, "provenance"},
		{"empty", "web-1.0.0.tgz", []byte{}, nil, 400, "empty"},
		{"bad chart name", "Web-1.0.0.tgz", tarGz(t, map[string]string{"Web/Chart.yaml": "apiVersion: v2\nname: Web\nversion: 1.0.0\n"}), nil, 400, "not a valid repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, charts.Options{Prefix: "charts/", MaxChartSize: int64(len(good)) + 1024})
			b := mustStatus(t, upload(t, e.url, tc.file, tc.tgz, tc.prov), tc.status)
			var eb api.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil || !strings.Contains(eb.Error.Message, tc.says) {
				t.Errorf("body %s does not say %q", b, tc.says)
			}
			repos, err := registrytest.NewClient(t, registry.Options{URL: "http://" + e.host}).Catalog(context.Background())
			if err != nil || len(repos) != 0 {
				t.Errorf("the registry holds %v (%v) after a refused upload", repos, err)
			}
		})
	}
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
