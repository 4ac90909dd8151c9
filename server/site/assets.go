package site

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/web"
)

// noUI is what /web/app.wasm answers, and the log says, when there is no UI to serve.
const noUI = "Berth was built without its UI: make build embeds it (make wasm, then go build), or start Berth with --web-dir pointing at a directory holding app.wasm"

// assets serves /web/…: berth.css, the icons and app.wasm. By default they are the files
// embedded in the binary (package web), with app.wasm compressed at build time; --web-dir
// serves a directory on disk instead, for development: make wasm while Berth runs, reload.
// The URLs the browser sees stay /web/…, whatever the directory is.
type assets struct {
	fsys fs.FS
	dir  string // the directory on disk; "" when embedded

	mu     sync.Mutex
	loaded bool
	cur    *wasmBuild // nil: no app.wasm
	key    string     // what cur was loaded from (disk: file sizes and times)
}

// wasmBuild is one build of app.wasm in every encoding served.
type wasmBuild struct {
	size    int64
	hash    string // hex sha256 of the uncompressed app.wasm
	modTime time.Time
	br, gz  []byte // nil when not compressed (disk: make wasm not run since the last build)

	rawOnce sync.Once
	raw     []byte // disk: the file; embedded: unpacked from gz the first time it is needed
	rawErr  error
}

// newAssets returns the embedded assets when dir is empty, else the directory's.
func newAssets(dir string) (*assets, error) {
	a := &assets{fsys: web.Files}
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("web directory: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("web directory %s: not a directory (%v)", abs, err)
		}
		a.fsys, a.dir = os.DirFS(abs), abs
	}
	if a.current() == nil {
		slog.Warn(noUI, "web_dir", a.dir)
	}
	return a, nil
}

// current returns the build to serve, reloading it from disk when app.wasm or its stamp
// changed (make wasm while Berth runs); nil when there is no app.wasm.
func (a *assets) current() *wasmBuild {
	key := "embedded"
	if a.dir != "" {
		key = ""
		for _, name := range []string{web.Wasm, web.Stamp} {
			if fi, err := fs.Stat(a.fsys, name); err == nil {
				key += fmt.Sprintf("%s:%d:%d;", name, fi.Size(), fi.ModTime().UnixNano())
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded && a.key == key {
		return a.cur
	}
	b, err := loadBuild(a.fsys)
	if err != nil {
		slog.Warn("loading app.wasm failed", "web_dir", a.dir, "err", err)
		return a.cur
	}
	a.cur, a.key, a.loaded = b, key, true
	return b
}

// loadBuild reads app.wasm from fsys: uncompressed from its top (a web directory on disk)
// and compressed from compressed/ when the stamp there says they are of the same build.
func loadBuild(fsys fs.FS) (*wasmBuild, error) {
	stamp, stampErr := web.ReadBuild(fsys)
	if stampErr != nil && !errors.Is(stampErr, fs.ErrNotExist) {
		return nil, stampErr
	}
	b := &wasmBuild{}
	raw, err := fs.ReadFile(fsys, web.Wasm)
	switch {
	case err == nil:
		sum := sha256.Sum256(raw)
		b.size, b.hash, b.raw = int64(len(raw)), hex.EncodeToString(sum[:]), raw
		b.rawOnce.Do(func() {})
		if fi, err := fs.Stat(fsys, web.Wasm); err == nil {
			b.modTime = fi.ModTime()
		}
		if stampErr != nil || stamp.SHA256 != b.hash {
			slog.Warn("app.wasm is newer than its compressed forms: serving it uncompressed until make wasm runs")
			return b, nil
		}
	case errors.Is(err, fs.ErrNotExist) && stampErr == nil:
		b.size, b.hash = stamp.Size, stamp.SHA256
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	default:
		return nil, err
	}
	var brErr, gzErr error
	b.br, brErr = fs.ReadFile(fsys, web.Brotli)
	b.gz, gzErr = fs.ReadFile(fsys, web.Gzip)
	if err := errors.Join(brErr, gzErr); err != nil {
		if b.raw == nil {
			return nil, fmt.Errorf("app.wasm: %w", err)
		}
		b.br, b.gz = nil, nil
	}
	if b.modTime.IsZero() {
		if fi, err := fs.Stat(fsys, web.Stamp); err == nil {
			b.modTime = fi.ModTime() // zero for embedded files: no Last-Modified, the ETag does it
		}
	}
	return b, nil
}

// uncompressed returns app.wasm itself, unpacking the embedded gzip form the first time (only
// clients accepting neither brotli nor gzip, and the static export, need it).
func (b *wasmBuild) uncompressed() ([]byte, error) {
	b.rawOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(b.gz))
		if err != nil {
			b.rawErr = fmt.Errorf("app.wasm.gz: %w", err)
			return
		}
		b.raw, b.rawErr = io.ReadAll(zr)
		if b.rawErr == nil && int64(len(b.raw)) != b.size {
			b.raw, b.rawErr = nil, fmt.Errorf("app.wasm.gz unpacks to %d bytes, its stamp says %d", len(b.raw), b.size)
		}
	})
	return b.raw, b.rawErr
}

// wasmSize is app.wasm's uncompressed size, 0 when there is none.
func (a *assets) wasmSize() int64 {
	if b := a.current(); b != nil {
		return b.size
	}
	return 0
}

// version identifies this build of the UI: the release version plus a hash of app.wasm, so
// a rebuilt UI always reaches browsers holding an older one.
func (a *assets) version(release string) string {
	if b := a.current(); b != nil {
		return release + "-" + b.hash[:12]
	}
	return release
}

// Resolve implements app.ResourceResolver.
func (a *assets) Resolve(location string) string {
	switch {
	case location == "" || location == "/":
		return "/"
	case strings.HasPrefix(location, "http://"), strings.HasPrefix(location, "https://"):
		return location
	}
	return "/" + strings.Trim(location, "/")
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/web/")
	switch {
	case !ok:
		http.NotFound(w, r)
	case name == web.Wasm:
		a.serveWasm(w, r)
	case isAsset(name):
		a.serveFile(w, r, name)
	default:
		http.NotFound(w, r)
	}
}

// isAsset reports whether name, relative to the web directory, is a file served and exported
// as it is: berth.css, icons and the like at the top, not app.wasm (served compressed), not
// the compressed/ build and not package web's Go files.
func isAsset(name string) bool {
	return name != "" && !strings.Contains(name, "/") && !strings.HasPrefix(name, ".") &&
		!strings.HasPrefix(name, web.Wasm) && path.Ext(name) != ".go"
}

func (a *assets) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	fi, err := fs.Stat(a.fsys, name)
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	// The assets are small; a content hash is the ETag, since embedded files have no time.
	data, err := fs.ReadFile(a.fsys, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, name, fi.ModTime(), bytes.NewReader(data))
}

// serveWasm serves app.wasm precompressed: brotli or gzip by Accept-Encoding, with a strong
// ETag per encoding. go-app requests /web/app.wasm without a version in the URL, so the
// response says no-cache and browsers revalidate with If-None-Match (a cheap 304); the
// service worker keeps its own copy for offline and warm starts.
func (a *assets) serveWasm(w http.ResponseWriter, r *http.Request) {
	b := a.current()
	if b == nil {
		http.Error(w, noUI, http.StatusNotFound)
		return
	}
	accept := r.Header.Get("Accept-Encoding")
	var body []byte
	encoding := ""
	switch enc := negotiateEncoding(accept); {
	case enc == "br" && b.br != nil:
		body, encoding = b.br, "br"
	case (enc == "br" || enc == "gzip") && b.gz != nil && acceptsEncoding(accept, "gzip"):
		body, encoding = b.gz, "gzip"
	default:
		raw, err := b.uncompressed()
		if err != nil {
			slog.Error("serving app.wasm uncompressed failed", "err", err)
			http.Error(w, "app.wasm cannot be read", http.StatusInternalServerError)
			return
		}
		body = raw
	}

	h := w.Header()
	h.Set("Content-Type", "application/wasm")
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	etag := b.hash[:32]
	if encoding != "" {
		h.Set("Content-Encoding", encoding)
		etag += "-" + encoding
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", b.modTime, bytes.NewReader(body))
}

// negotiateEncoding picks br, gzip or "" (identity) from an Accept-Encoding header: the one
// with the higher q-value, br on a tie, none refused with q=0 (directly or through "*").
func negotiateEncoding(header string) string {
	br, gz := qValue(header, "br"), qValue(header, "gzip")
	switch {
	case br > 0 && br >= gz:
		return "br"
	case gz > 0:
		return "gzip"
	}
	return ""
}

// acceptsEncoding reports whether header accepts enc with a q-value above zero.
func acceptsEncoding(header, enc string) bool { return qValue(header, enc) > 0 }

// qValue is enc's q-value in an Accept-Encoding header: its own, else "*"'s, else 0.
func qValue(header, enc string) float64 {
	star := 0.0
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
			return q
		case name == "*":
			star = q
		}
	}
	return star
}

// export writes the assets into dir for a static host: the files as they are, and app.wasm
// with its .br and .gz forms next to it (nginx's gzip_static and brotli_static serve those).
func (a *assets) export(dir string) error {
	b := a.current()
	if b == nil {
		return errors.New(noUI)
	}
	if b.br == nil || b.gz == nil {
		return fmt.Errorf("app.wasm in %s is newer than its compressed forms: run make wasm", a.dir)
	}
	raw, err := b.uncompressed()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	entries, err := fs.ReadDir(a.fsys, ".")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isAsset(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(a.fsys, e.Name())
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	for name, data := range map[string][]byte{web.Wasm: raw, web.Wasm + ".br": b.br, web.Wasm + ".gz": b.gz} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}

// WasmSizes reports the sizes of app.wasm at path and of its .gz and .br forms next to it, as
// berth export writes them (for its summary).
func WasmSizes(path string) (raw, gz, br int64, err error) {
	var sizes [3]int64
	for i, p := range []string{path, path + ".gz", path + ".br"} {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("app.wasm: %w", err)
		}
		sizes[i] = fi.Size()
	}
	return sizes[0], sizes[1], sizes[2], nil
}
