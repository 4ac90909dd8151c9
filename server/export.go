package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/server/site"
)

// cmdExport writes the UI as a static site: berth export DIR --api-url URL [--base-path /sub/]
// [--direct].
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("berth export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts site.ExportOptions
	fs.StringVar(&opts.APIURL, "api-url", os.Getenv("BERTH_API_URL"), "Berth server the UI calls, e.g. https://berth.example.com (start it with --cors-origin set to the static site's origin); with --direct, the registry's CORS proxy")
	fs.StringVar(&opts.BasePath, "base-path", "/", "path the site is served under, e.g. /berth/")
	fs.StringVar(&opts.WebDir, "web-dir", os.Getenv("BERTH_WEB_DIR"), "take app.wasm, CSS and icons from this directory instead of the copies embedded in the binary")
	fs.BoolVar(&opts.Direct, "direct", false, "read-only UI that reads the registry's /v2 at --api-url itself (catalog and tag digests only)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth export DIR --api-url URL [--base-path /sub/] [--direct]\n\nWrites Berth's UI as static files into DIR, for any static host.\n\n")
		fs.PrintDefaults()
	}
	// The directory may come before or after the flags.
	var dir string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		dir = ""
	}
	if dir == "" || opts.APIURL == "" {
		fs.Usage()
		return errUsage
	}
	opts.Dir, opts.Version = dir, version
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := site.Export(opts); err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	raw, gz, br, err := site.WasmSizes(filepath.Join(dir, "web", "app.wasm"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "static site written to %s (app.wasm %.1f MB, gzip %.1f MB, brotli %.1f MB)\n", abs, float64(raw)/1e6, float64(gz)/1e6, float64(br)/1e6)
	return nil
}
