package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/berth-registry/berth/web"
)

func TestFilesEmbedded(t *testing.T) {
	// ui.go names these; the README placeholder keeps compressed/ embeddable on a fresh clone.
	for _, name := range []string{"berth.css", "icon.svg", "icon-192.png", "icon-512.png", "icon-maskable-512.png", "compressed/README.md"} {
		if b, err := fs.ReadFile(web.Files, name); err != nil || len(b) == 0 {
			t.Errorf("%s not embedded: %v", name, err)
		}
	}
	if _, err := fs.Stat(web.Files, web.Wasm); err == nil {
		t.Error("the uncompressed app.wasm is embedded; only its compressed forms should be")
	}
}

func TestCompress(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte("\x00asm berth "), 50000)
	if err := os.WriteFile(filepath.Join(dir, web.Wasm), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	build, done, err := web.Compress(dir, 4)
	if err != nil || !done {
		t.Fatalf("first compress: done %v, err %v", done, err)
	}
	if build.Size != int64(len(raw)) || len(build.SHA256) != 64 || build.BrotliQuality != 4 {
		t.Errorf("build %+v", build)
	}
	fsys := os.DirFS(dir)
	if stamp, err := web.ReadBuild(fsys); err != nil || stamp != build {
		t.Errorf("stamp %+v (err %v), want %+v", stamp, err, build)
	}
	br, err := fs.ReadFile(fsys, web.Brotli)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(brotli.NewReader(bytes.NewReader(br))); err != nil || !bytes.Equal(plain, raw) {
		t.Errorf("app.wasm.br does not decode to app.wasm (err %v)", err)
	}
	gz, err := fs.ReadFile(fsys, web.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, raw) {
		t.Errorf("app.wasm.gz does not decode to app.wasm (err %v)", err)
	}
	if len(br) >= len(raw)/10 || len(gz) >= len(raw)/10 {
		t.Errorf("brotli %d and gzip %d bytes for %d: not compressed", len(br), len(gz), len(raw))
	}
	// No temporary files are left for go:embed to pick up.
	entries, _ := os.ReadDir(filepath.Join(dir, "compressed"))
	if len(entries) != 3 {
		t.Errorf("compressed/ holds %d files, want 3: %v", len(entries), entries)
	}

	// Up to date at this level or a lower one: nothing to do. A higher level redoes it.
	for _, tc := range []struct {
		quality  int
		wantDone bool
	}{{4, false}, {2, false}, {6, true}} {
		build, done, err := web.Compress(dir, tc.quality)
		if err != nil || done != tc.wantDone {
			t.Errorf("quality %d: done %v (err %v), want %v", tc.quality, done, err, tc.wantDone)
		}
		if tc.wantDone && build.BrotliQuality != tc.quality {
			t.Errorf("quality %d: stamp says %d", tc.quality, build.BrotliQuality)
		}
	}

	// A new app.wasm is compressed again.
	if err := os.WriteFile(filepath.Join(dir, web.Wasm), raw[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	if build, done, err := web.Compress(dir, 6); err != nil || !done || build.Size != 1000 {
		t.Errorf("after a rebuild: %+v, done %v, err %v", build, done, err)
	}
}

func TestCompressWithoutWasm(t *testing.T) {
	if _, _, err := web.Compress(t.TempDir(), 4); err == nil {
		t.Error("compressing a directory without app.wasm succeeded")
	}
}

// BenchmarkWasmSize compresses the real web/app.wasm as make wasm does and reports its size
// raw, gzipped and brotli-compressed (make bench builds web/app.wasm first).
func BenchmarkWasmSize(b *testing.B) {
	raw, err := os.ReadFile(web.Wasm)
	if err != nil {
		b.Skip("web/app.wasm missing: run make wasm")
	}
	var gz, br []byte
	for b.Loop() {
		if gz, err = web.EncodeGzip(raw); err != nil {
			b.Fatal(err)
		}
		if br, err = web.EncodeBrotli(raw, web.DefaultBrotliQuality); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(raw))/1e6, "raw_MB")
	b.ReportMetric(float64(len(gz))/1e6, "gzip_MB")
	b.ReportMetric(float64(len(br))/1e6, "brotli_MB")
	b.ReportMetric(float64(len(raw))/float64(len(br)), "x_brotli_ratio")
}
