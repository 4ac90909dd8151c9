package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/server/site"
)

// cmdExport writes the UI as a static site: berth export DIR --api-url URL [--base-path /sub/]
// [--direct].
func cmdExport(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "export", "DIR --api-url URL [--base-path /sub/] [--direct]", "Writes Berth's UI as static files into DIR, for any static host.")
	var opts site.ExportOptions
	fs.StringVar(&opts.APIURL, "api-url", os.Getenv("BERTH_API_URL"), "Berth server the UI calls, e.g. https://berth.example.com (start it with --cors-origin set to the static site's origin); with --direct, the registry's CORS proxy")
	fs.StringVar(&opts.BasePath, "base-path", "/", "path the site is served under, e.g. /berth/")
	fs.StringVar(&opts.WebDir, "web-dir", os.Getenv("BERTH_WEB_DIR"), "take app.wasm, CSS and icons from this directory instead of the copies embedded in the binary")
	fs.BoolVar(&opts.Direct, "direct", false, "read-only UI that reads the registry's /v2 at --api-url itself (catalog and tag digests only)")
	pos, err := parseN(fs, args, 1, 1, "DIR, the directory to write the site into")
	if err != nil {
		return err
	}
	if opts.APIURL == "" {
		return usagef("--api-url is required: the Berth server (or, with --direct, the registry) the UI calls")
	}
	dir := pos[0]
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
	fmt.Fprintf(c.out, "static site written to %s (app.wasm %.1f MB, gzip %.1f MB, brotli %.1f MB)\n", abs, float64(raw)/1e6, float64(gz)/1e6, float64(br)/1e6)
	return nil
}
