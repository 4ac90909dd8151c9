package catalog_test

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// recorder is a RoundTripper that records every request to the registry, tracks how many
// are in flight at once, and can fail chosen requests.
type recorder struct {
	base  http.RoundTripper
	delay time.Duration
	fail  func(*http.Request) bool

	inFlight    atomic.Int64
	maxInFlight atomic.Int64

	mu       sync.Mutex
	requests []string // "METHOD /path"
}

func newRecorder() *recorder { return &recorder{base: http.DefaultTransport} }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.maxInFlight.Load()
		if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	r.mu.Lock()
	r.requests = append(r.requests, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	if r.fail != nil && r.fail(req) {
		return &http.Response{
			Status:     "500 Internal Server Error",
			StatusCode: http.StatusInternalServerError,
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{},
			Body:    io.NopCloser(strings.NewReader("")),
			Request: req,
		}, nil
	}
	return r.base.RoundTrip(req)
}

// reset forgets the requests recorded so far and the in-flight maximum.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
	r.maxInFlight.Store(0)
}

// total returns how many requests were recorded.
func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

// count returns how many recorded requests had method and a path containing part.
func (r *recorder) count(method, part string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.requests {
		m, path, _ := strings.Cut(q, " ")
		if m == method && strings.Contains(path, part) {
			n++
		}
	}
	return n
}

// ref parses a reference to the registry at host.
func ref(t *testing.T, host, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func push(t *testing.T, host, s string, img v1.Image) v1.Hash {
	t.Helper()
	if err := remote.Write(ref(t, host, s), img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", s, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// imageFacts is what the catalog should report for one image, read directly with ggcr.
type imageFacts struct {
	digest   string
	size     int64 // config plus layers
	created  time.Time
	platform string
}

func factsOf(t *testing.T, img v1.Image) imageFacts {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	p := api.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	return imageFacts{digest: d.String(), size: size, created: cf.Created.Time, platform: p.String()}
}

// platformFacts reads every image of the index at s (repo:tag), in index order.
func platformFacts(t *testing.T, host, s string) []imageFacts {
	t.Helper()
	idx, err := remote.Index(ref(t, host, s), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("read index %s: %v", s, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []imageFacts
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		f := factsOf(t, img)
		f.platform = d.Platform.String()
		out = append(out, f)
	}
	return out
}

func headDigest(t *testing.T, host, s string) string {
	t.Helper()
	d, err := remote.Head(ref(t, host, s), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("head %s: %v", s, err)
	}
	return d.Digest.String()
}

// tagNamed returns the tag called name from page, failing the test if it is missing.
func tagNamed(t *testing.T, page api.TagPage, name string) api.Tag {
	t.Helper()
	for _, tag := range page.Tags {
		if tag.Name == name {
			return tag
		}
	}
	t.Fatalf("tag %q not in page %+v", name, page)
	return api.Tag{}
}

// coldTag describes one tag with a fresh Service, so nothing comes from a cache and no other
// tag of the same page shares its digest.
func coldTag(t *testing.T, host, repo, tag string) api.Tag {
	t.Helper()
	names, err := remote.List(ref(t, host, repo).Context(), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("list %s: %v", repo, err)
	}
	slices.Sort(names)
	i := slices.Index(names, tag)
	if i < 0 {
		t.Fatalf("%s has no tag %s: %q", repo, tag, names)
	}
	page, err := newService(t, host, nil, 4).Tags(t.Context(), repo, catalog.TagQuery{Offset: i, Limit: 1})
	if err != nil {
		t.Fatalf("Tags(%s, %d, 1): %v", repo, i, err)
	}
	if len(page.Tags) != 1 || page.Total != len(names) {
		t.Fatalf("Tags(%s, %d, 1) = %d tags of %d, want 1 of %d", repo, i, len(page.Tags), page.Total, len(names))
	}
	return tagNamed(t, page, tag)
}

func tags(t *testing.T, svc *catalog.Service, repo string) api.TagPage {
	t.Helper()
	page, err := svc.Tags(t.Context(), repo, catalog.TagQuery{Offset: 0, Limit: 1000})
	if err != nil {
		t.Fatalf("Tags(%s): %v", repo, err)
	}
	return page
}

func platformNames(ps []api.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// wantHTTPError fails the test unless err is an *httperr.Error with the given status.
func wantHTTPError(t *testing.T, err error, status int, code api.Code) {
	t.Helper()
	var he *httperr.Error
	if !errors.As(err, &he) {
		t.Fatalf("error = %v (%T), want an *httperr.Error with status %d", err, err, status)
	}
	if he.Status != status || he.Code != code {
		t.Fatalf("error status, code = %d, %s; want %d, %s (%v)", he.Status, he.Code, status, code, err)
	}
	if he.Message == "" {
		t.Fatalf("error %v has no message for the user", err)
	}
}
