// Package web holds Berth's UI assets: the stylesheet and icons, and the compressed builds of
// app.wasm that make wasm writes into compressed/. bin/berth embeds them, so it serves the UI
// from any directory; Compress is the build step that fills compressed/.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/andybalholm/brotli"
)

// Files are the assets bin/berth embeds: berth.css, early.js and the icons at the top, and compressed/
// with app.wasm's brotli and gzip forms and their Build when the UI was built before the
// binary. compressed/README.md is tracked, so a fresh clone builds without the UI.
//
//go:embed *.css *.js *.png *.svg compressed
var Files embed.FS

// File names inside a web directory (and inside Files).
const (
	// Wasm is the UI's WebAssembly binary, at the top of a web directory.
	Wasm = "app.wasm"
	// Brotli, Gzip and Stamp are app.wasm compressed and the Build they were made from.
	Brotli = "compressed/app.wasm.br"
	Gzip   = "compressed/app.wasm.gz"
	Stamp  = "compressed/app.wasm.json"
)

// DefaultBrotliQuality is the brotli level make wasm uses. On Berth's 13 MB wasm (2 cores)
// level 9 gives 2.7 MB in about 5 s; level 11 gives 2.4 MB in about 70 s, which make dist
// spends on release builds.
const DefaultBrotliQuality = 9

// Build describes the app.wasm that the compressed files were made from.
type Build struct {
	// Size is app.wasm's size in bytes, uncompressed.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the uncompressed app.wasm.
	SHA256 string `json:"sha256"`
	// BrotliQuality is the brotli level app.wasm.br was written with.
	BrotliQuality int `json:"brotliQuality"`
}

// ReadBuild reads the Build stamp from fsys (Files, or os.DirFS of a web directory);
// fs.ErrNotExist when the UI has not been compressed.
func ReadBuild(fsys fs.FS) (Build, error) {
	b, err := fs.ReadFile(fsys, Stamp)
	if err != nil {
		return Build{}, err
	}
	var build Build
	if err := json.Unmarshal(b, &build); err != nil || build.SHA256 == "" || build.Size <= 0 {
		return Build{}, fmt.Errorf("%s is not a build stamp (make wasm rewrites it): %v", Stamp, err)
	}
	return build, nil
}

// Compress writes dir/app.wasm's brotli (at quality) and gzip forms and its Build stamp into
// dir/compressed. It does nothing and reports false when the stamp already describes this
// app.wasm at quality or better. The stamp is written last, so a reader that checks it
// against app.wasm never takes half-written files for a build.
func Compress(dir string, quality int) (Build, bool, error) {
	raw, err := os.ReadFile(filepath.Join(dir, Wasm))
	if err != nil {
		return Build{}, false, fmt.Errorf("compress the UI: %w (GOOS=js GOARCH=wasm go build -o %s ./app builds it)", err, filepath.Join(dir, Wasm))
	}
	sum := sha256.Sum256(raw)
	build := Build{Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:]), BrotliQuality: quality}
	fsys := os.DirFS(dir)
	if old, err := ReadBuild(fsys); err == nil && old.SHA256 == build.SHA256 && old.BrotliQuality >= quality && exist(fsys, Brotli, Gzip) {
		return old, false, nil
	}

	// The two encoders are independent and each single-threaded: run them side by side.
	var br, gz []byte
	var brErr, gzErr error
	var wg sync.WaitGroup
	wg.Go(func() { br, brErr = EncodeBrotli(raw, quality) })
	wg.Go(func() { gz, gzErr = EncodeGzip(raw) })
	wg.Wait()
	if err := errors.Join(brErr, gzErr); err != nil {
		return Build{}, false, err
	}
	stamp, err := json.MarshalIndent(build, "", "  ")
	if err != nil {
		return Build{}, false, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{Brotli, br}, {Gzip, gz}, {Stamp, append(stamp, '\n')}} {
		if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(f.name)), f.data); err != nil {
			return Build{}, false, err
		}
	}
	return build, true, nil
}

func exist(fsys fs.FS, names ...string) bool {
	for _, n := range names {
		if _, err := fs.Stat(fsys, n); err != nil {
			return false
		}
	}
	return true
}

// writeFileAtomic writes b to name through a temporary file in the same directory, so a
// server reading the directory never sees half a file. The temporary name starts with a dot,
// which go:embed leaves out should a build run at the same time.
func writeFileAtomic(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+path.Base(filepath.ToSlash(name))+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Chmod(0o644), f.Close()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// EncodeBrotli compresses b with brotli at quality and the largest window (app.wasm is
// larger than the default window, and a wider one finds repeats across the file).
func EncodeBrotli(b []byte, quality int) ([]byte, error) {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: quality, LGWin: 24})
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	return buf.Bytes(), nil
}

// EncodeGzip compresses b with gzip at its best compression.
func EncodeGzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}
