package contents_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/contents"
)

// bigLayer is a gzip layer of size bytes spread over 1 MiB files of a repeating pattern:
// highly compressible, so a 200 MB layer is a small blob to push.
func bigLayer(t testing.TB, size int64) layer {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	chunk := bytes.Repeat([]byte("berth layer filler 0123456789\n"), (1<<20)/30+1)[:1<<20]
	for i := int64(0); i*(1<<20) < size; i++ {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/%04d.bin", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 20, ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return layer{buf.Bytes(), types.OCILayer, fmt.Sprintf("RUN make %d bytes", size)}
}

// peakHeap runs f while sampling live heap bytes, and returns the peak growth over the heap
// before f.
func peakHeap(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// indexGrowth pushes a layer of size bytes and returns the peak heap growth while Berth
// indexes it (the registry, in this process too, serves the blob meanwhile).
func indexGrowth(t testing.TB, e *env, tag string, size int64) uint64 {
	t.Helper()
	l := bigLayer(t, size)
	push(t, e.host, "look/large", tag, []layer{l}, nil)
	var lines []byte
	growth := peakHeap(func() {
		e.mustGet(t, "/api/v1/contents/look/large/-/image/"+tag+"/index", &lines)
	})
	if !bytes.Contains(lines, []byte(`"type":"done"`)) {
		t.Fatalf("index %s: %s", tag, lines)
	}
	if n := e.blobs.get(layerDigests(t, l)[0]); n != 1 {
		t.Fatalf("layer of %s read %d times", tag, n)
	}
	return growth
}

// TestLargeLayer indexes a 200 MB layer with about the memory a 2 MB one takes, once.
func TestLargeLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes a 200 MB layer")
	}
	e := newEnv(t, openRegistry(t), contents.Limits{})
	small := indexGrowth(t, e, "small", 2<<20)
	large := indexGrowth(t, e, "large", 200<<20)
	ratio := float64(large) / float64(max(small, 1<<20))
	t.Logf("peak heap growth: 2 MB layer %d KiB, 200 MB layer %d KiB, ratio %.2f", small>>10, large>>10, ratio)
	if ratio > 4 {
		t.Errorf("indexing a 100× larger layer took %.1f× the memory; want it bounded (≤ 4×)", ratio)
	}
	var lf api.LayerFiles
	e.mustGet(t, "/api/v1/contents/look/large/-/image/large/layers/"+layerDigests(t, bigLayer(t, 200<<20))[0]+"?limit=1", &lf)
	if lf.Layer.Files != 200 {
		t.Errorf("large layer files = %d", lf.Layer.Files)
	}
}

// BenchmarkIndexLargeLayer reports the peak heap growth of indexing a 200 MB layer against a
// 2 MB one in the same run.
func BenchmarkIndexLargeLayer(b *testing.B) {
	e := newEnv(b, openRegistry(b), contents.Limits{})
	var ratio float64
	for i := 0; b.Loop(); i++ {
		small := indexGrowth(b, e, fmt.Sprintf("small%d", i), 2<<20+int64(i))
		large := indexGrowth(b, e, fmt.Sprintf("large%d", i), 200<<20+int64(i))
		ratio = float64(large) / float64(max(small, 1<<20))
	}
	b.ReportMetric(ratio, "heap_x_vs_2MB")
}
