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

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/charts"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/site"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	helmregistry "helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
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
