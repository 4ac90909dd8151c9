package site

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testWasm writes a compressible fake app.wasm into a temp dir and returns its path and bytes.
func testWasm(t *testing.T) (string, []byte) {
	t.Helper()
	noise := make([]byte, 4096)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	raw := append(bytes.Repeat([]byte("\x00asm go-app berth wasm "), 20000), noise...)
	path := filepath.Join(t.TempDir(), "app.wasm")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, raw
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

func TestWasmServedPrecompressed(t *testing.T) {
	path, raw := testWasm(t)
	w := newWasmFile(path)
	w.wait()
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)

	get := func(acceptEncoding, ifNoneMatch string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/web/app.wasm", nil)
		// Set explicitly: the transport would otherwise add gzip and decode it itself.
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

	etags := map[string]bool{}
	for _, tc := range []struct {
		accept, encoding string
		decode           func([]byte) ([]byte, error)
	}{
		{"gzip, deflate, br", "br", brotliDecode},
		{"gzip", "gzip", gzipDecode},
		{"identity", "", func(b []byte) ([]byte, error) { return b, nil }},
	} {
		resp, body := get(tc.accept, "")
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
		resp, body = get(tc.accept, etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("%q with If-None-Match: status %d, %d bytes; want 304", tc.accept, resp.StatusCode, len(body))
		}
	}

	// The compressed forms are kept next to app.wasm and reused.
	for _, ext := range []string{".gz", ".br"} {
		if _, err := os.Stat(path + ext); err != nil {
			t.Errorf("app.wasm%s not written: %v", ext, err)
		}
	}
}

func TestWasmRebuildIsPickedUp(t *testing.T) {
	path, _ := testWasm(t)
	w := newWasmFile(path)
	w.wait()
	first := w.current().hash
	newer := bytes.Repeat([]byte("rebuilt "), 5000)
	if err := os.WriteFile(path, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	// A stale sidecar must not be served for the new build.
	w.current()
	w.wait()
	v := w.current()
	if v.hash == first {
		t.Fatal("hash did not change after app.wasm was rewritten")
	}
	if plain, err := brotliDecode(v.br); err != nil || !bytes.Equal(plain, newer) {
		t.Errorf("brotli form is of the old build (err %v)", err)
	}
}

// BenchmarkWasmSize reports the real app.wasm's size raw, gzipped and brotli-compressed as
// Berth serves it (make bench builds web/app.wasm first).
func BenchmarkWasmSize(b *testing.B) {
	path := filepath.Join("..", "..", "web", "app.wasm")
	if _, err := os.Stat(path); err != nil {
		b.Skip("web/app.wasm missing: run make wasm")
	}
	// Work on a copy, so the benchmark never races a running Berth over the sidecar files.
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	cp := filepath.Join(b.TempDir(), "app.wasm")
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		b.Fatal(err)
	}
	var raw, gz, br int
	for b.Loop() {
		os.Remove(cp + ".gz")
		os.Remove(cp + ".br")
		raw, gz, br, err = WasmSizes(cp)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(raw)/1e6, "raw_MB")
	b.ReportMetric(float64(gz)/1e6, "gzip_MB")
	b.ReportMetric(float64(br)/1e6, "brotli_MB")
	b.ReportMetric(float64(raw)/float64(br), "x_brotli_ratio")
}
