package site

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/berth-registry/berth/web"
)

// testWebDir writes a web directory with a compressible fake app.wasm and a stylesheet, and
// compresses it as make wasm does. It returns the directory and app.wasm's bytes.
func testWebDir(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	raw := fakeWasm(t)
	if err := os.WriteFile(filepath.Join(dir, web.Wasm), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "berth.css"), []byte("body{color:red}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := web.Compress(dir, 5); err != nil {
		t.Fatal(err)
	}
	return dir, raw
}

func fakeWasm(t *testing.T) []byte {
	t.Helper()
	noise := make([]byte, 4096)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	return append(bytes.Repeat([]byte("\x00asm go-app berth wasm "), 20000), noise...)
}

func brotliDecode(b []byte) ([]byte, error) { return io.ReadAll(brotli.NewReader(bytes.NewReader(b))) }

func gzipDecode(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func identity(b []byte) ([]byte, error) { return b, nil }

// get requests /web/… from srv with an explicit Accept-Encoding (the transport would
// otherwise add gzip and decode it itself).
func get(t *testing.T, srv *httptest.Server, path, acceptEncoding, ifNoneMatch string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Accept-Encoding", acceptEncoding)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
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
	return resp, b
}

func TestNegotiateEncoding(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"", ""},
		{"gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"br;q=0, gzip;q=0", ""},
		{"*", "br"},
		{"*;q=0.1, br;q=0", "gzip"},
		{"identity", ""},
		{"BR", "br"},
		{"gzip;q=0.5 , br ; q=0.8", "br"},
	} {
		if got := negotiateEncoding(tc.header); got != tc.want {
			t.Errorf("Accept-Encoding %q: got %q, want %q", tc.header, got, tc.want)
		}
	}
}

// checkWasmEncodings checks that srv serves raw as app.wasm in every encoding, with a strong
// ETag per encoding that revalidates to a 304.
func checkWasmEncodings(t *testing.T, srv *httptest.Server, raw []byte) {
	t.Helper()
	etags := map[string]bool{}
	for _, tc := range []struct {
		accept, encoding string
		decode           func([]byte) ([]byte, error)
	}{
		{"gzip, deflate, br", "br", brotliDecode},
		{"gzip", "gzip", gzipDecode},
		{"identity", "", identity},
	} {
		resp, body := get(t, srv, "/web/app.wasm", tc.accept, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: status %d", tc.accept, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
			t.Errorf("%q: Content-Encoding %q, want %q", tc.accept, got, tc.encoding)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("%q: Content-Type %q", tc.accept, ct)
		}
		if v := resp.Header.Get("Vary"); !strings.Contains(v, "Accept-Encoding") {
			t.Errorf("%q: Vary %q", tc.accept, v)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%q: Cache-Control %q (the URL is not versioned)", tc.accept, cc)
		}
		plain, err := tc.decode(body)
		if err != nil || !bytes.Equal(plain, raw) {
			t.Errorf("%q: body does not decode to app.wasm (%d bytes, err %v)", tc.accept, len(plain), err)
		}
		if tc.encoding != "" && len(body) >= len(raw)/4 {
			t.Errorf("%s: %d bytes for %d raw; not compressed", tc.encoding, len(body), len(raw))
		}
		etag := resp.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || etags[etag] {
			t.Errorf("%q: ETag %q is not strong or not unique per encoding", tc.accept, etag)
		}
		etags[etag] = true

		// Revalidation is a body-less 304.
		resp, body = get(t, srv, "/web/app.wasm", tc.accept, etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("%q with If-None-Match: status %d, %d bytes; want 304", tc.accept, resp.StatusCode, len(body))
		}
	}
}

func TestWasmServedPrecompressedFromDisk(t *testing.T) {
	dir, raw := testWebDir(t)
	a, err := newAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	checkWasmEncodings(t, srv, raw)
}

// Without the uncompressed app.wasm, as in the binary, clients that take neither brotli nor
// gzip get it unpacked from the gzip form.
func TestWasmServedFromCompressedOnly(t *testing.T) {
	dir, raw := testWebDir(t)
	if err := os.Remove(filepath.Join(dir, web.Wasm)); err != nil {
		t.Fatal(err)
	}
	a, err := newAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.wasmSize(); got != int64(len(raw)) {
		t.Errorf("wasm size %d, want %d (for go-app's progress bar)", got, len(raw))
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	checkWasmEncodings(t, srv, raw)
}

// A rebuilt app.wasm (make wasm while Berth runs with --web-dir) is served at once, plain
// until its compressed forms are rebuilt, never with the old build's compressed bytes.
func TestWasmRebuildIsPickedUp(t *testing.T) {
	dir, _ := testWebDir(t)
	a, err := newAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	before := a.version("v")

	newer := bytes.Repeat([]byte("rebuilt "), 5000)
	if err := os.WriteFile(filepath.Join(dir, web.Wasm), newer, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, srv, "/web/app.wasm", "br, gzip", "")
	if enc := resp.Header.Get("Content-Encoding"); enc != "" || !bytes.Equal(body, newer) {
		t.Errorf("stale compressed forms: got Content-Encoding %q and %d bytes, want the new app.wasm plain", enc, len(body))
	}
	if a.version("v") == before {
		t.Error("version did not change after app.wasm was rewritten")
	}

	if _, _, err := web.Compress(dir, 5); err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, srv, "/web/app.wasm", "br, gzip", "")
	if plain, err := brotliDecode(body); resp.Header.Get("Content-Encoding") != "br" || err != nil || !bytes.Equal(plain, newer) {
		t.Errorf("after make wasm: Content-Encoding %q, decoded %d bytes (err %v); want brotli of the new build", resp.Header.Get("Content-Encoding"), len(plain), err)
	}
}

func TestStaticAssets(t *testing.T) {
	dir, _ := testWebDir(t)
	if err := os.WriteFile(filepath.Join(dir, "web.go"), []byte("package web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := newAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	resp, body := get(t, srv, "/web/berth.css", "", "")
	if resp.StatusCode != http.StatusOK || string(body) != "body{color:red}" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("berth.css: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := get(t, srv, "/web/berth.css", "", etag); etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("berth.css with If-None-Match %q: status %d, want 304", etag, resp.StatusCode)
	}
	// Only the assets themselves: not the build directory, not the package's Go files.
	for _, p := range []string{"/web/web.go", "/web/compressed/app.wasm.json", "/web/compressed/app.wasm.br", "/web/app.wasm.br", "/web/../web/berth.css", "/other"} {
		if resp, _ := get(t, srv, p, "", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// The binary's own assets: with the UI built (make test builds it before the tests), the
// embedded app.wasm is served brotli-compressed; without, the answer says how to build it.
func TestEmbeddedAssets(t *testing.T) {
	a, err := newAssets("")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	if resp, body := get(t, srv, "/web/berth.css", "", ""); resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Errorf("embedded berth.css: status %d, %d bytes", resp.StatusCode, len(body))
	}
	build, err := web.ReadBuild(web.Files)
	resp, body := get(t, srv, "/web/app.wasm", "br", "")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Log("this test binary was built without the UI (make wasm first embeds it)")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "make build") {
			t.Errorf("no UI embedded: status %d, %q; want 404 saying how to build it", resp.StatusCode, body)
		}
	case err != nil:
		t.Fatal(err)
	default:
		plain, err := brotliDecode(body)
		if resp.Header.Get("Content-Encoding") != "br" || err != nil || int64(len(plain)) != build.Size {
			t.Errorf("embedded app.wasm: Content-Encoding %q, %d bytes decoded (err %v), want %d", resp.Header.Get("Content-Encoding"), len(plain), err, build.Size)
		}
	}
}

func TestExportAssets(t *testing.T) {
	dir, raw := testWebDir(t)
	if err := os.WriteFile(filepath.Join(dir, "web.go"), []byte("package web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := newAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "web")
	if err := a.export(out); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "app.wasm app.wasm.br app.wasm.gz berth.css"; got != want {
		t.Errorf("exported %s, want %s", got, want)
	}
	for name, decode := range map[string]func([]byte) ([]byte, error){"app.wasm": identity, "app.wasm.br": brotliDecode, "app.wasm.gz": gzipDecode} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := decode(b); err != nil || !bytes.Equal(plain, raw) {
			t.Errorf("%s does not decode to app.wasm (err %v)", name, err)
		}
	}
	if raw, gz, br, err := WasmSizes(filepath.Join(out, "app.wasm")); err != nil || raw <= gz || gz <= 0 || br <= 0 {
		t.Errorf("WasmSizes: %d %d %d %v", raw, gz, br, err)
	}

	// A rebuilt app.wasm whose compressed forms are stale cannot be exported as they are.
	if err := os.WriteFile(filepath.Join(dir, web.Wasm), []byte("\x00asm newer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.export(t.TempDir()); err == nil || !strings.Contains(err.Error(), "make wasm") {
		t.Errorf("export with stale compressed forms: %v, want an error naming make wasm", err)
	}
}
