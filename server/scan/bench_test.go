package scan

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// BenchmarkScan scans a generated image of about 200 MB (a Debian root with a Go binary,
// then three layers of 1 MB files and npm packages) against a fixture database, and
// reports the scan's time as a multiple of just reading its layers' files (the baseline,
// measured in the same run), the bytes it allocates, and the process's peak RSS.
func BenchmarkScan(b *testing.B) {
	img := bigImage(b, 3, 66)
	dir := fixtureDB(b)
	var read, scan time.Duration
	var alloc uint64
	for b.Loop() {
		start := time.Now()
		readLayers(b, img)
		read += time.Since(start)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start = time.Now()
		res, err := Image(b.Context(), img, dir, "bench/image@sha256:x")
		scan += time.Since(start)
		runtime.ReadMemStats(&after)
		alloc += after.TotalAlloc - before.TotalAlloc
		if err != nil || len(res.Findings) == 0 {
			b.Fatalf("scan: %d packages, %d findings, %v", res.Packages, len(res.Findings), err)
		}
	}
	b.ReportMetric(float64(scan)/float64(read), "scan/read-time")
	b.ReportMetric(float64(alloc)/float64(b.N)/(1<<20), "scan-alloc-MB/op")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
}

// bigImage is a Debian root with a Go binary under layers of files MB of pseudo-random
// bytes (one file a MB) and a package.json each.
func bigImage(b *testing.B, layers, files int) v1.Image {
	root := debianFiles()
	root["usr/bin/hello"] = goBinary(b)
	img := fixtureImage(b, root)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for l := range layers {
		content := map[string][]byte{}
		for f := range files {
			data := make([]byte, 1<<20)
			for i := 0; i < len(data); i += 8 {
				v := rng.Uint64()
				for j := range 8 {
					data[i+j] = byte(v >> (8 * j))
				}
			}
			content[fmt.Sprintf("srv/data%d/file%d.bin", l, f)] = data
		}
		content[fmt.Sprintf("srv/app%d/node_modules/left-pad/package.json", l)] = []byte(`{"name":"left-pad","version":"1.` + strconv.Itoa(l) + `.0"}`)
		layer, err := fixtureImage(b, content).Layers()
		if err != nil {
			b.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer...); err != nil {
			b.Fatal(err)
		}
	}
	return img
}

// fixtureDB is a directory of OSV archives as scans read them, with advisories for the
// image's openssl, Go and left-pad (one archive per ecosystem the image has packages of).
func fixtureDB(b *testing.B) string {
	raw := osvArchive(b, advisory("DEBIAN-TEST-1", "Debian:12", "openssl", "3.0.13-1~deb12u1", "HIGH"),
		advisory("GO-TEST-1", "Go", "stdlib", "99.0.0", ""), advisory("NPM-TEST-1", "npm", "left-pad", "1.1.0", "LOW"))
	db, err := ParseArchive(bytes.NewReader(raw), int64(len(raw)), "bench")
	if err != nil {
		b.Fatal(err)
	}
	dir, err := (&files{root: b.TempDir()}).dirFor(db)
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// readLayers reads every file of img's layers, uncompressed: what any scan must at least do.
func readLayers(b *testing.B, img v1.Image) {
	layers, err := img.Layers()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			b.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			if _, err := tr.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, tr); err != nil {
				b.Fatal(err)
			}
		}
		rc.Close()
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes; 0 where /proc has none.
func peakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
