package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"

	"github.com/berth-registry/berth/app/api"
)

// tagsAnswer is a /api/v1 tags answer for n tags as a real repository gives it: three in four
// images, one in four an index of four platforms, each with its own digests (≈ 4 MB at
// 10,000 tags).
func tagsAnswer(n int) []byte {
	digest := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	page := api.TagPage{Repository: "team/api/server", Total: n, Limit: n, PullHost: "registry.example.com"}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t := api.Tag{Name: fmt.Sprintf("v%d.%d.%d", i/10000, i/100%100, i%100), Digest: digest(fmt.Sprint("tag", i)),
			MediaType: "application/vnd.oci.image.manifest.v1+json", Kind: "image", Size: int64(20_000_000 + i*7919),
			Created: created.Add(time.Duration(i) * time.Hour), Pushed: created.Add(time.Duration(i)*time.Hour + time.Minute)}
		arches := []string{"amd64"}
		if i%4 == 3 {
			t.MediaType, t.Kind, t.Attestations = "application/vnd.oci.image.index.v1+json", "index", 4
			arches = []string{"amd64", "arm64", "ppc64le", "s390x"}
		}
		for j, a := range arches {
			t.Platforms = append(t.Platforms, api.Platform{OS: "linux", Architecture: a, Digest: digest(fmt.Sprint("p", i, a)),
				Size: t.Size/int64(len(arches)) + int64(j), Created: t.Created})
		}
		page.Tags = append(page.Tags, t)
	}
	b, _ := json.Marshal(page)
	return b
}

// BenchmarkCompressTags compresses a tags answer at a few levels of each encoding: ns/op,
// size_ratio (compressed/raw) and MB/s of raw input, identity (a plain copy) as the baseline.
// BERTH_BENCH_COMPRESS_TAGS sets the tag count (default 10,000: ≈ 4 MB).
func BenchmarkCompressTags(b *testing.B) {
	raw := tagsAnswer(envInt("BERTH_BENCH_COMPRESS_TAGS", 10_000))
	b.ReportMetric(float64(len(raw)), "raw_bytes")
	for _, tc := range []struct {
		enc   string
		level int
	}{{"", 0}, {"gzip", 1}, {"gzip", 3}, {"gzip", 6}, {"br", 0}, {"br", 1}, {"br", 2}, {"br", 3}, {"br", 5}} {
		b.Run(fmt.Sprintf("%s-%d", cmpName(tc.enc), tc.level), func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out.Reset()
				w := newLevelWriter(tc.enc, tc.level, &out)
				_, _ = w.Write(raw)
				_ = w.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(len(raw)), "size_ratio")
		})
	}
}

func cmpName(enc string) string {
	if enc == "" {
		return "identity"
	}
	return enc
}

// BenchmarkCompressMiddleware serves the 4 MB answer through compress as a browser asks
// for it (br), against the same answer uncompressed in the same run.
func BenchmarkCompressMiddleware(b *testing.B) {
	raw := tagsAnswer(envInt("BERTH_BENCH_COMPRESS_TAGS", 10_000))
	h := compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	for _, accept := range []string{"identity", "gzip", "br"} {
		b.Run(accept, func(b *testing.B) {
			var n int
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/api/v1/repositories/x/tags?limit=all", nil)
				req.Header.Set("Accept-Encoding", accept)
				h.ServeHTTP(rec, req)
				n = rec.Body.Len()
			}
			b.ReportMetric(float64(n)/float64(len(raw)), "size_ratio")
		})
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// newLevelWriter returns a writer compressing into w with enc at level ("": a plain copy).
func newLevelWriter(enc string, level int, w io.Writer) io.WriteCloser {
	switch enc {
	case "br":
		return brotli.NewWriterLevel(w, level)
	case "gzip":
		z, _ := gzip.NewWriterLevel(w, level)
		return z
	}
	return nopCloser{w}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
