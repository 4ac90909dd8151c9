package site

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCompressNegotiates: a 10,000-tag answer goes out in the encoding Accept-Encoding
// prefers by q-value (gzip on a tie), decodes to the very bytes, varies on Accept-Encoding, and is sent as
// it is when no encoding is accepted.
func TestCompressNegotiates(t *testing.T) {
	raw := tagsAnswer(10_000)
	srv := httptest.NewServer(compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for chunk := range pieces(raw, 32<<10) { // as json.Encoder and go-app write: in pieces
			_, _ = w.Write(chunk)
		}
	})))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		accept, encoding string
		decode           func([]byte) ([]byte, error)
	}{
		{"gzip, deflate, br, zstd", "gzip", gzipDecode},
		{"br", "br", brotliDecode},
		{"gzip;q=0.8, br", "br", brotliDecode},
		{"gzip", "gzip", gzipDecode},
		{"br;q=0.5, gzip", "gzip", gzipDecode},
		{"*;q=0.2, br;q=0", "gzip", gzipDecode},
		{"", "", identity},
		{"identity", "", identity},
		{"br;q=0, gzip;q=0", "", identity},
	} {
		resp, body := get(t, srv, "/api/v1/repositories/team/api/tags?limit=all", tc.accept, "")
		if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
			t.Errorf("%q: Content-Encoding %q, want %q", tc.accept, got, tc.encoding)
		}
		if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
			t.Errorf("%q: Vary %q", tc.accept, v)
		}
		plain, err := tc.decode(body)
		if err != nil || !bytes.Equal(plain, raw) {
			t.Fatalf("%q: %d bytes decode to %d (err %v), want the %d sent", tc.accept, len(body), len(plain), err, len(raw))
		}
		if tc.encoding != "" && len(body) > len(raw)/3 {
			t.Errorf("%s: %d bytes for %d raw", tc.encoding, len(body), len(raw))
		}
		if tc.encoding == "" && resp.ContentLength != -1 && resp.ContentLength != int64(len(raw)) {
			t.Errorf("%q: Content-Length %d for %d bytes", tc.accept, resp.ContentLength, len(raw))
		}
	}
}

func pieces(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			c := b[:min(n, len(b))]
			b = b[len(c):]
			if !yield(c) {
				return
			}
		}
	}
}

// TestCompressLeavesAlone: short answers, other media types, partial and already encoded
// answers and anything under /v2 and /web/ pass as they are.
func TestCompressLeavesAlone(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for _, tc := range []struct {
		name, path string
		serve      func(w http.ResponseWriter)
	}{
		{"short JSON", "/api/v1/session", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"user":"alice"}`))
		}},
		{"binary", "/api/v1/x", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(big)
		}},
		{"already encoded", "/metrics", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(big)
		}},
		{"partial", "/charts/index.yaml", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/yaml")
			w.Header().Set("Content-Range", "bytes 0-65535/100000")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(big)
		}},
		{"registry", "/v2/library/alpine/manifests/3", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(big)
		}},
		{"assets", "/web/berth.css", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write(big)
		}},
	} {
		srv := httptest.NewServer(compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.serve(w) })))
		resp, body := get(t, srv, tc.path, "br, gzip", "")
		srv.Close()
		want := big
		if tc.name == "short JSON" {
			want = []byte(`{"user":"alice"}`)
		}
		if enc := resp.Header.Get("Content-Encoding"); (enc != "" && tc.name != "already encoded") || !bytes.Equal(body, want) {
			t.Errorf("%s: Content-Encoding %q, %d bytes; want the %d bytes as they were", tc.name, enc, len(body), len(want))
		}
	}
}

// TestCompressStreams: an NDJSON job stream is sent as it is, each flushed line at once.
func TestCompressStreams(t *testing.T) {
	second := make(chan struct{})
	srv := httptest.NewServer(compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = io.WriteString(w, `{"seq":1,"type":"phase"}`+"\n")
		http.NewResponseController(w).Flush()
		<-second
		_, _ = io.WriteString(w, `{"seq":2,"type":"result"}`+"\n")
	})))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/jobs/1/events", nil)
	req.Header.Set("Accept-Encoding", "br, gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("job stream sent with Content-Encoding %q", enc)
	}
	lines := bufio.NewReader(resp.Body)
	first, err := lines.ReadString('\n')
	if err != nil || !strings.Contains(first, `"seq":1`) {
		t.Fatalf("first line before the second was written: %q, %v", first, err)
	}
	close(second)
	if rest, _ := io.ReadAll(lines); !strings.Contains(string(rest), `"seq":2`) {
		t.Errorf("second line: %q", rest)
	}
}

// TestCompressKeepsETagsApart: a compressed answer's strong ETag names its encoding, and the
// handler still answers 304 to it (with the same ETag), so caches revalidate cheaply.
func TestCompressKeepsETagsApart(t *testing.T) {
	page := bytes.Repeat([]byte("<p>berth</p>"), 1000)
	srv := httptest.NewServer(compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
	})))
	t.Cleanup(srv.Close)
	tags := map[string]string{}
	for _, enc := range []string{"br", "gzip", ""} {
		resp, _ := get(t, srv, "/app.js", enc, "")
		tags[enc] = resp.Header.Get("ETag")
		if got := resp.Header.Get("Accept-Ranges"); enc != "" && got != "" {
			t.Errorf("%q: Accept-Ranges %q on an encoded answer", enc, got)
		}
		resp, body := get(t, srv, "/app.js", enc, tags[enc])
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != tags[enc] {
			t.Errorf("%q with If-None-Match %s: %d, ETag %q", enc, tags[enc], resp.StatusCode, resp.Header.Get("ETag"))
		}
	}
	if tags["br"] != `"v1-br"` || tags["gzip"] != `"v1-gzip"` || tags[""] != `"v1"` {
		t.Errorf("ETags %v, want one per encoding", tags)
	}
}

// TestCompressPassesAssets: behind the middleware app.wasm still comes precompressed with an
// ETag per encoding, and berth.css with its ETag, 304 and byte ranges.
func TestCompressPassesAssets(t *testing.T) {
	dir, raw := testWebDir(t)
	a, err := newAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(compress(a))
	t.Cleanup(srv.Close)
	checkWasmEncodings(t, srv, raw)
	resp, _ := get(t, srv, "/web/berth.css", "br, gzip", "")
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Content-Encoding") != "" || etag == "" {
		t.Fatalf("berth.css: Content-Encoding %q, ETag %q", resp.Header.Get("Content-Encoding"), etag)
	}
	if resp, _ := get(t, srv, "/web/berth.css", "br", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("berth.css with If-None-Match: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/web/berth.css", nil)
	req.Header.Set("Range", "bytes=0-3")
	req.Header.Set("Accept-Encoding", "br")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(body) != "body" {
		t.Errorf("berth.css bytes 0-3: %d %q", resp.StatusCode, body)
	}
}
