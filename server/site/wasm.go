package site

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// BrotliQuality is the brotli level app.wasm is compressed with. On Berth's 13 MB wasm
// (2 cores) level 9 gives 2.73 MB in about 5 s, level 11 gives 2.38 MB but takes 70 s: too
// long for a start, even in the background.
const BrotliQuality = 9

// wasmFile serves app.wasm precompressed: brotli or gzip by Accept-Encoding, with a strong
// ETag per encoding. go-app requests /web/app.wasm without a version in the URL, so the
// response says no-cache and browsers revalidate with If-None-Match (a cheap 304); the
// service worker keeps its own copy for offline and warm starts.
//
// The compressed forms are built in the background at start, so a large wasm never delays
// startup, and kept next to app.wasm (app.wasm.br, app.wasm.gz) for the next start and for
// static file servers (nginx gzip_static). Until they are ready the raw file is served.
type wasmFile struct {
	path string

	mu      sync.Mutex
	cur     *wasmVariants
	ready   chan struct{} // closed when cur has its compressed forms
	pending bool          // compression is under way
}

// wasmVariants is one build of app.wasm in every encoding served.
type wasmVariants struct {
	modTime time.Time
	size    int64
	hash    string // hex sha256 of the raw bytes
	raw     []byte
	gz, br  []byte // nil until compressed
}

func newWasmFile(path string) *wasmFile {
	w := &wasmFile{path: path}
	w.current()
	return w
}

// wait blocks until the compressed forms of the current build exist (tests, export).
func (w *wasmFile) wait() {
	w.mu.Lock()
	ready := w.ready
	w.mu.Unlock()
	if ready != nil {
		<-ready
	}
}

// current returns the build on disk, reloading it when app.wasm changed (make wasm while
// Berth runs); nil when there is no app.wasm.
func (w *wasmFile) current() *wasmVariants {
	fi, err := os.Stat(w.path)
	if err != nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.cur; c != nil && c.modTime.Equal(fi.ModTime()) && c.size == fi.Size() {
		return c
	}
	raw, err := os.ReadFile(w.path)
	if err != nil {
		slog.Warn("reading app.wasm failed", "path", w.path, "err", err)
		return w.cur
	}
	sum := sha256.Sum256(raw)
	v := &wasmVariants{modTime: fi.ModTime(), size: fi.Size(), hash: hex.EncodeToString(sum[:]), raw: raw}
	w.cur = v
	ready := make(chan struct{})
	w.ready = ready
	go w.compress(v, ready)
	return v
}

// compress fills in v's gzip and brotli forms, reusing the files next to app.wasm when they
// decompress to the same bytes.
func (w *wasmFile) compress(v *wasmVariants, ready chan struct{}) {
	defer close(ready)
	start := time.Now()
	gz, err := sidecar(w.path+".gz", v, gzipEncode, gzipDecode)
	if err != nil {
		slog.Warn("app.wasm: gzip failed; serving it uncompressed", "err", err)
		return
	}
	br, err := sidecar(w.path+".br", v, brotliEncode, brotliDecode)
	if err != nil {
		slog.Warn("app.wasm: brotli failed; serving gzip", "err", err)
	}
	w.mu.Lock()
	v.gz, v.br = gz, br
	w.mu.Unlock()
	slog.Debug("app.wasm compressed", "raw", len(v.raw), "gzip", len(gz), "brotli", len(br), "took", time.Since(start).Round(time.Millisecond))
}

// sidecar returns v compressed, from path when that file holds exactly v, else freshly
// encoded and written to path (a read-only web directory only costs the next start's time).
func sidecar(path string, v *wasmVariants, encode func([]byte) ([]byte, error), decode func([]byte) ([]byte, error)) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		if plain, err := decode(b); err == nil && bytes.Equal(plain, v.raw) {
			return b, nil
		}
	}
	b, err := encode(v.raw)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, b); err != nil {
		slog.Debug("app.wasm: cannot keep the compressed copy", "path", path, "err", err)
	}
	return b, nil
}

// writeFileAtomic writes b to path through a temporary file, so a concurrent reader (another
// Berth starting) never sees half a file.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

func gzipEncode(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

func gzipDecode(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return io.ReadAll(zr)
}

func brotliEncode(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	bw := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: BrotliQuality, LGWin: 24})
	if _, err := bw.Write(b); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	if err := bw.Close(); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	return buf.Bytes(), nil
}

func brotliDecode(b []byte) ([]byte, error) {
	return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
}

func (w *wasmFile) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	v := w.current()
	if v == nil {
		http.NotFound(rw, r)
		return
	}
	w.mu.Lock()
	body, encoding := v.raw, ""
	switch enc := negotiateEncoding(r.Header.Get("Accept-Encoding")); {
	case enc == "br" && v.br != nil:
		body, encoding = v.br, "br"
	case (enc == "br" || enc == "gzip") && v.gz != nil && acceptsEncoding(r.Header.Get("Accept-Encoding"), "gzip"):
		body, encoding = v.gz, "gzip"
	}
	w.mu.Unlock()

	h := rw.Header()
	h.Set("Content-Type", "application/wasm")
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	etag := v.hash[:32]
	if encoding != "" {
		h.Set("Content-Encoding", encoding)
		etag += "-" + encoding
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(rw, r, "", v.modTime, bytes.NewReader(body))
}

// negotiateEncoding picks br, gzip or "" (identity) from an Accept-Encoding header, in that
// order of preference, honouring q=0 refusals and "*".
func negotiateEncoding(header string) string {
	for _, enc := range []string{"br", "gzip"} {
		if acceptsEncoding(header, enc) {
			return enc
		}
	}
	return ""
}

// acceptsEncoding reports whether header accepts enc with a q-value above zero.
func acceptsEncoding(header, enc string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(val, 64); err == nil {
					q = f
				}
			}
		}
		switch {
		case strings.EqualFold(name, enc):
			return q > 0
		case name == "*":
			star = q > 0
		}
	}
	return star
}

// WasmSizes reports app.wasm's size raw, gzipped and brotli-compressed as Berth serves it,
// compressing it if needed (for make bench and the export command's summary).
func WasmSizes(path string) (raw, gz, br int, err error) {
	if _, err := os.Stat(path); err != nil {
		return 0, 0, 0, fmt.Errorf("app.wasm: %w", err)
	}
	w := newWasmFile(path)
	w.wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil {
		return 0, 0, 0, fmt.Errorf("app.wasm at %s cannot be read", path)
	}
	return len(w.cur.raw), len(w.cur.gz), len(w.cur.br), nil
}

// Precompress writes path.gz and path.br next to the file at path (the export command uses
// it, so static hosts can serve the compressed forms).
func Precompress(path string) error {
	_, gz, br, err := WasmSizes(path)
	if err != nil {
		return err
	}
	if gz == 0 || br == 0 {
		return fmt.Errorf("compress %s failed (see the log)", path)
	}
	for _, p := range []string{path + ".gz", path + ".br"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("compressed copy: %w", err)
		}
	}
	return nil
}
