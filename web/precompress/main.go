// Command precompress is make wasm's second step: it writes web/app.wasm compressed with
// brotli and gzip, and the stamp describing it, into web/compressed, where go:embed picks them
// up for bin/berth. It skips the work when they are already up to date.
//
//	go run ./web/precompress [-quality 9] [web]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/berth-registry/berth/web"
)

func main() {
	quality := flag.Int("quality", web.DefaultBrotliQuality, "brotli level, 0–11 (11 is smallest and slowest)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: go run ./web/precompress [-quality N] [WEB-DIR]\n\nCompresses WEB-DIR/app.wasm (default web/app.wasm) into WEB-DIR/compressed for go:embed.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	dir := "web"
	switch flag.NArg() {
	case 0:
	case 1:
		dir = flag.Arg(0)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if *quality < 0 || *quality > 11 {
		fmt.Fprintln(os.Stderr, "precompress: -quality must be 0–11")
		os.Exit(2)
	}
	start := time.Now()
	build, done, err := web.Compress(dir, *quality)
	if err != nil {
		fmt.Fprintln(os.Stderr, "precompress:", err)
		os.Exit(1)
	}
	if !done {
		fmt.Printf("%s/compressed is up to date (app.wasm %s, brotli level %d)\n", dir, build.SHA256[:12], build.BrotliQuality)
		return
	}
	br, _ := os.Stat(dir + "/" + web.Brotli)
	gz, _ := os.Stat(dir + "/" + web.Gzip)
	fmt.Printf("compressed %s/app.wasm: %.1f MB, gzip %.1f MB, brotli %.1f MB (level %d) in %s\n",
		dir, float64(build.Size)/1e6, float64(gz.Size())/1e6, float64(br.Size())/1e6, *quality, time.Since(start).Round(100*time.Millisecond))
}
