package contents_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// Tests reach a real registry through server/registry, as the user whose Basic credentials
// the session middleware turns into the principal.

type counter struct {
	mu    sync.Mutex
	blobs map[string]int
	lists int // whole tag lists (first pages; not the one-tag access check)
}

func (c *counter) tagLists() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists
}

func (c *counter) get(digest string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobs[digest]
}

// env is a real registry behind a counting proxy, a SQLite store, and Berth's contents
// endpoints behind a middleware that passes the request's Basic credentials on as the
// principal (what the site's session middleware does).
type env struct {
	host   string // registry host the tests push to
	berth  string // base URL of the contents endpoints
	store  store.Store
	blobs  *counter
	svc    *contents.Service
	limits contents.Limits
	cat    *catalog.Service  // the next serve's Options.TagNames and HoldBack, as Berth wires them
	authz  access.Authorizer // the next serve's authorizer (nil: its own)
}

func newEnv(t testing.TB, registryURL string, limits contents.Limits) *env {
	t.Helper()
	up, err := url.Parse(registryURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{blobs: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(up)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := strings.Index(r.URL.Path, "/blobs/"); i >= 0 && r.Method == http.MethodGet {
			c.mu.Lock()
			c.blobs[r.URL.Path[i+len("/blobs/"):]]++
			c.mu.Unlock()
		}
		if strings.HasSuffix(r.URL.Path, "/tags/list") && r.URL.Query().Get("last") == "" && r.URL.Query().Get("n") == "" {
			c.mu.Lock()
			c.lists++
			c.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{host: strings.TrimPrefix(counting.URL, "http://"), store: st, blobs: c, limits: limits}
	e.berth = e.serve(t)
	return e
}

// serve starts another Berth (a replica) over the same registry and store.
func (e *env) serve(t testing.TB) string {
	t.Helper()
	reg := registrytest.NewClient(t, registry.Options{URL: "http://" + e.host})
	opts := contents.Options{Registry: reg, Store: e.store, Limits: e.limits, Authorizer: e.authz}
	if opts.Authorizer == nil {
		opts.Authorizer = registry.NewAuthorizer(reg, 0)
	}
	if e.cat != nil {
		opts.TagNames, opts.AuthorizeList, opts.HoldBack = e.cat.KeptTagNames, e.cat.CanReadList, e.cat.BehindAnswers
	}
	e.svc = contents.New(opts)
	mux := http.NewServeMux()
	// Basic credentials become the caller's principal, as on the real site.
	sessions := session.New(time.Hour, reg.CheckCredentials, nil, nil)
	site.API(mux, site.Services{Contents: e.svc, Sessions: sessions, Authenticator: registry.NewAuthenticator(reg.CheckCredentials)}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// get calls Berth as user:pass ("" for anonymous) and decodes a 200 answer into v; it returns
// the status and, for errors, the error body.
func (e *env) get(t testing.TB, user, pass, path string, v any) (int, api.ErrorBody) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.berth+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		_ = json.Unmarshal(body, &eb)
		return resp.StatusCode, eb
	}
	if v != nil {
		if b, ok := v.(*[]byte); ok {
			*b = body
		} else if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
	}
	return resp.StatusCode, eb
}

// mustGet is get that fails the test on anything but 200.
func (e *env) mustGet(t testing.TB, path string, v any) {
	t.Helper()
	if status, eb := e.get(t, "", "", path, v); status != http.StatusOK {
		t.Fatalf("GET %s = %d %+v", path, status, eb)
	}
}

// tarEntry describes one entry of a test layer.
type tarEntry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func file(name, body string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) tarEntry { return tarEntry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeLink, link: target, mode: 0o755}
}
func whiteout(dirname, base string) tarEntry { return file(dirname+"/.wh."+base, "") }

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func tarOf(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, en := range entries {
		h := &tar.Header{Name: en.name, Typeflag: en.typ, Mode: en.mode, Linkname: en.link, ModTime: mtime, Uid: 1000, Gid: 1000, Format: tar.FormatPAX}
		if en.typ == tar.TypeReg {
			h.Size = int64(len(en.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(en.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(b, nil)
}

// layer is a blob with its media type and the history line that made it.
type layer struct {
	data      []byte
	mediaType types.MediaType
	createdBy string
}

func gzLayer(t testing.TB, createdBy string, entries ...tarEntry) layer {
	return layer{gz(t, tarOf(t, entries...)), types.OCILayer, createdBy}
}

// push writes an OCI image of the layers (with an empty step first, as builders record ENV
// lines) to repo:tag and returns its digest.
func push(t testing.TB, host, repo, tag string, layers []layer, config func(*v1.Config), opts ...remote.Option) string {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(l.data, l.mediaType), MediaType: l.mediaType, History: v1.History{CreatedBy: l.createdBy, Created: v1.Time{Time: mtime}}})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.History = append([]v1.History{{CreatedBy: "/bin/sh -c #(nop)  ENV PATH=/usr/bin", EmptyLayer: true}}, cf.History...)
	if config != nil {
		config(&cf.Config)
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func layerDigests(t testing.TB, layers ...layer) []string {
	t.Helper()
	var out []string
	for _, l := range layers {
		d, err := static.NewLayer(l.data, l.mediaType).Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

func openRegistry(t testing.TB) string { return registrytest.Open(t) }
