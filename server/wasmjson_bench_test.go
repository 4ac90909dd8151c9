package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// BenchmarkWasmJSON decodes a 10,000-tag answer (≈4 MB of JSON) inside headless Chromium's
// wasm runtime, in each form the repository page could receive it (web/jsonbench): the
// whole answer with encoding/json, one tag per line (NDJSON) with encoding/json, only the
// first screen's 50 lines, one array per field (columnar) with encoding/json, JSON.parse in JavaScript alone, and JSON.parse with every field
// read back into Go across syscall/js. Reports ms per decode and each form's ratio to
// encoding/json on the whole answer.
func BenchmarkWasmJSON(b *testing.B) {
	chromium(b) // skips without Chromium
	dir := b.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bench.wasm"), "../web/jsonbench")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	wasmExec, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		b.Fatal(err)
	}
	page := `<!doctype html><script>` + string(wasmExec) + `</script><script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("bench.wasm"), go.importObject).then(r => go.run(r.instance));
</script>`
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(page))
	})
	mux.HandleFunc("/bench.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, filepath.Join(dir, "bench.wasm"))
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	ctx := browser(b)
	sums := map[string]float64{}
	for range b.N {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), waitJS(`typeof berthJSONBench === "object"`)); err != nil {
			b.Fatal(err)
		}
		res, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`berthJSONBench`))
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range res {
			sums[k] += v
		}
	}
	n := float64(b.N)
	base := sums["go_json_ms"] / n
	for k, v := range sums {
		if strings.HasSuffix(k, "bytes") {
			b.ReportMetric(v/n/1e6, k[:len(k)-len("bytes")]+"MB")
			continue
		}
		b.ReportMetric(v/n, k)
		if k != "go_json_ms" && base > 0 {
			b.ReportMetric(v/n/base, k[:len(k)-len("_ms")]+"/go_json")
		}
	}
}
