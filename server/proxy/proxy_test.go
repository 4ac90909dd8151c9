package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/proxy"
)

// registry starts a real distribution registry over loopback HTTP and returns its URL.
func registry(t testing.TB) *url.URL {
	t.Helper()
	reg, err := embedded.New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); reg.Close() })
	u, _ := url.Parse(srv.URL)
	return u
}

// serveProxy starts the proxy to upstream over loopback HTTP and returns its host:port.
func serveProxy(t testing.TB, opts proxy.Options) string {
	t.Helper()
	p, err := proxy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPushPullMultiLayerImageThroughProxy(t *testing.T) {
	up := registry(t)
	host := serveProxy(t, proxy.Options{Upstream: up})

	img, err := random.Image(300_000, 4)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if err := remote.Write(ref(t, host+"/team/api/server:v1"), img); err != nil {
		t.Fatalf("push through proxy: %v", err)
	}

	// The image landed upstream, byte for byte.
	direct, err := remote.Image(ref(t, up.Host+"/team/api/server:v1"))
	if err != nil {
		t.Fatalf("read directly: %v", err)
	}
	if got, _ := direct.Digest(); got != want {
		t.Fatalf("upstream digest %s, pushed %s", got, want)
	}

	// And reads back through the proxy with every layer verified.
	pulled, err := remote.Image(ref(t, host+"/team/api/server:v1"))
	if err != nil {
		t.Fatalf("pull through proxy: %v", err)
	}
	layers, err := pulled.Layers()
	if err != nil || len(layers) != 4 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil { // ggcr verifies the digest at EOF
			t.Fatalf("layer through proxy: %v", err)
		}
		rc.Close()
	}
	if got, _ := pulled.Digest(); got != want {
		t.Fatalf("pulled digest %s, pushed %s", got, want)
	}
}

func TestLargeBlobThroughProxy(t *testing.T) {
	up := registry(t)
	host := serveProxy(t, proxy.Options{Upstream: up})

	blob := make([]byte, 64<<20)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(blob)
	layer := static.NewLayer(blob, types.OCILayer)
	digest, _ := layer.Digest()

	repo, _ := name.NewRepository(host+"/big/blob", name.Insecure)
	if err := remote.WriteLayer(repo, layer); err != nil {
		t.Fatalf("upload 64 MiB through proxy: %v", err)
	}

	got := sha256.New()
	resp, err := http.Get("http://" + host + "/v2/big/blob/blobs/" + digest.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(got, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	if n != int64(len(blob)) || "sha256:"+hex.EncodeToString(got.Sum(nil)) != digest.String() {
		t.Fatalf("downloaded %d bytes with a different digest", n)
	}
	if resp.Header.Get("Docker-Content-Digest") != digest.String() {
		t.Errorf("Docker-Content-Digest = %q, want %s", resp.Header.Get("Docker-Content-Digest"), digest)
	}

	// Range requests pass through: a client resuming a download gets exactly its slice.
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/big/blob/blobs/"+digest.String(), nil)
	req.Header.Set("Range", "bytes=1000-1999")
	rresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rresp.Body)
	rresp.Body.Close()
	if rresp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, blob[1000:2000]) {
		t.Fatalf("range: status %d, %d bytes (Content-Range %q)", rresp.StatusCode, len(part), rresp.Header.Get("Content-Range"))
	}
}

// TestStreamsWithoutBuffering sends 64 MiB each way through the proxy and checks that the
// whole process allocates far less than that: the proxy copies, it does not hold bodies.
func TestStreamsWithoutBuffering(t *testing.T) {
	const size = 64 << 20
	var uploaded atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n, _ := io.Copy(io.Discard, r.Body)
			uploaded.Store(n)
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		buf := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	host := serveProxy(t, proxy.Options{Upstream: u})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	resp, err := http.Get("http://" + host + "/v2/x/blobs/sha256:0")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/v2/x/blobs/uploads/1", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	presp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()

	runtime.ReadMemStats(&after)
	if n != size || uploaded.Load() != size {
		t.Fatalf("moved %d down and %d up, want %d each", n, uploaded.Load(), size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("moving 2×64 MiB allocated %d MiB: bodies are being buffered", alloc>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestRewritesUpstreamLocationAndLink(t *testing.T) {
	var upstreamURL string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", upstreamURL+"/v2/a/blobs/uploads/123?_state=abc")
		w.Header().Add("Link", "<"+upstreamURL+"/v2/_catalog?last=b&n=2>; rel=\"next\"")
		w.Header().Add("Link", "</v2/_catalog?last=c&n=2>; rel=\"next\"")
		w.Header().Set("Docker-Content-Digest", "sha256:abc")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer upstream.Close()
	upstreamURL = upstream.URL
	u, _ := url.Parse(upstream.URL)
	host := serveProxy(t, proxy.Options{Upstream: u})

	resp, err := http.Post("http://"+host+"/v2/a/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); got != "/v2/a/blobs/uploads/123?_state=abc" {
		t.Errorf("Location = %q", got)
	}
	links := resp.Header.Values("Link")
	if len(links) != 2 || links[0] != `</v2/_catalog?last=b&n=2>; rel="next"` || links[1] != `</v2/_catalog?last=c&n=2>; rel="next"` {
		t.Errorf("Link = %q", links)
	}
	if resp.Header.Get("Docker-Content-Digest") != "sha256:abc" {
		t.Errorf("Docker-Content-Digest lost")
	}
}

func TestCatalogPaginationThroughProxy(t *testing.T) {
	up := registry(t)
	for _, r := range []string{"a/one", "b/two", "c/three"} {
		img, _ := random.Image(100, 1)
		if err := remote.Write(ref(t, up.Host+"/"+r+":1"), img); err != nil {
			t.Fatal(err)
		}
	}
	host := serveProxy(t, proxy.Options{Upstream: up})
	reg, _ := name.NewRegistry(host, name.Insecure)
	// Pages of one force three requests that follow the rewritten Link header.
	repos, err := remote.Catalog(context.Background(), reg, remote.WithPageSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(repos, ",") != "a/one,b/two,c/three" {
		t.Fatalf("catalog through proxy = %v", repos)
	}
}

// TestRefusesPathTricks sends raw request targets that try to leave /v2 on the upstream and
// checks each is refused before the upstream sees anything.
func TestRefusesPathTricks(t *testing.T) {
	var seen atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		t.Errorf("upstream reached with %s", r.RequestURI)
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	host := serveProxy(t, proxy.Options{Upstream: u})

	for _, target := range []string{
		"/v2/../secret",
		"/v2/%2e%2e/secret",
		"/v2/library/alpine/..%2f..%2f..%2fsecret",
		"/v2/library%2Falpine/tags/list",
		"/v2//etc/passwd",
		"/v2/./_catalog",
		"/v2/a\\..\\..\\secret",
		"/v2/a%5c..%5csecret",
		"/v2/a%00/tags/list",
		"http://evil.example/v2/_catalog",
		"/secret",
		"/v2x/_catalog",
		"/v2/" + strings.Repeat("a", 300) + "/blobs/sha256:00",
		"/v2/Library/Alpine/manifests/latest",
		"/v2/-a/tags/list",
	} {
		t.Run(target, func(t *testing.T) {
			status, body := rawRequest(t, host, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%s)", status, body)
			}
			var e struct {
				Errors []struct{ Code, Message string }
			}
			if json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 {
				t.Fatalf("body is not a registry error: %s", body)
			}
		})
	}
	if seen.Load() != 0 {
		t.Fatalf("upstream saw %d requests", seen.Load())
	}
}

// TestHostHeaderCannotRedirect checks that a request naming another host still goes only to
// the configured registry.
func TestHostHeaderCannotRedirect(t *testing.T) {
	var hosts []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		w.WriteHeader(http.StatusOK)
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	host := serveProxy(t, proxy.Options{Upstream: u})
	status, _ := rawRequest(t, host, "GET /v2/ HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n")
	if status != http.StatusOK || len(hosts) != 1 || hosts[0] != u.Host {
		t.Fatalf("status %d, upstream saw hosts %v, want only %s", status, hosts, u.Host)
	}
}

func rawRequest(t *testing.T, host, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUpstreamDownOrSlow(t *testing.T) {
	// A port with nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	slowURL, _ := url.Parse(slow.URL)

	for _, tc := range []struct {
		name     string
		upstream *url.URL
		status   int
	}{
		{"down", dead, http.StatusBadGateway},
		{"slow", slowURL, http.StatusGatewayTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := serveProxy(t, proxy.Options{Upstream: tc.upstream, Timeout: 300 * time.Millisecond})
			resp, err := http.Get("http://" + host + "/v2/_catalog")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || len(e.Errors) != 1 || e.Errors[0].Code != "UNAVAILABLE" {
				t.Fatalf("status %d, errors %+v; want %d UNAVAILABLE", resp.StatusCode, e.Errors, tc.status)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	up := registry(t)
	host := serveProxy(t, proxy.Options{Upstream: up, ReadOnly: true})
	img, _ := random.Image(100, 1)
	err := remote.Write(ref(t, host+"/ro/test:1"), img)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("push in read-only mode: %v", err)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req, _ := http.NewRequest(m, "http://"+host+"/v2/ro/test/manifests/1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", m, resp.StatusCode)
		}
	}
	// Reads still work.
	if _, err := remote.Catalog(context.Background(), mustRegistry(t, host)); err != nil {
		t.Fatalf("read in read-only mode: %v", err)
	}
}

func mustRegistry(t *testing.T, host string) name.Registry {
	r, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
