package site

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/ui"
)

// ExportOptions says what Export writes.
type ExportOptions struct {
	// Dir is where the site is written; it is created when missing.
	Dir string
	// WebDir holds app.wasm (with make wasm's compressed/), CSS and icons, copied into
	// Dir/web; "" takes the ones embedded in the binary.
	WebDir string
	// APIURL is the Berth server (or, with Direct, the registry's CORS proxy) the UI calls,
	// e.g. https://berth.example.com; it must allow the static site's origin (--cors-origin).
	APIURL string
	// BasePath is the path the site is served under, e.g. /sub/; "" or "/" for the root.
	BasePath string
	// Direct makes a read-only UI that reads the registry's /v2 at APIURL itself.
	Direct bool
	// Version is the release version shown in the UI.
	Version string
}

// Export writes Berth's UI as a static site: prerendered pages, go-app's PWA files
// (app.js, app-worker.js, manifest.webmanifest, wasm_exec.js, app.css) and web/ with
// app.wasm and its .gz and .br forms. Any static host serves it; see deploy/nginx-static.conf.
func Export(opts ExportOptions) error {
	base, err := cleanBasePath(opts.BasePath)
	if err != nil {
		return err
	}
	u, err := url.Parse(opts.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--api-url %q: want a URL such as https://berth.example.com", opts.APIURL)
	}
	files, err := newAssets(opts.WebDir)
	if err != nil {
		return err
	}
	if err := files.export(filepath.Join(opts.Dir, "web")); err != nil {
		return err
	}

	env := map[string]string{
		ui.EnvVersion:  opts.Version,
		ui.EnvAPIURL:   strings.TrimRight(opts.APIURL, "/"),
		ui.EnvReadOnly: strconv.FormatBool(opts.Direct),
		ui.EnvMode:     "",
	}
	if opts.Direct {
		env[ui.EnvMode] = ui.ModeDirect
	}
	ui.Routes()
	h := uiHandler(prefixed{base: base}, base, files.wasmSize(), files.version(opts.Version), env)
	if base != "" {
		// go-app caches "/" resolved, i.e. base without its slash; offline starts need base/.
		h.CacheableResources = append(h.CacheableResources, base+"/")
	}
	if err := app.GenerateStaticWebsite(opts.Dir, h); err != nil {
		return fmt.Errorf("generate static site in %s: %w", opts.Dir, err)
	}
	return nil
}

// cleanBasePath turns /sub/, sub or /sub into /sub, and / or "" into "".
func cleanBasePath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if strings.ContainsAny(p, "?#\\ ") || strings.Contains(p, "//") || strings.Contains(p, "..") {
		return "", fmt.Errorf("--base-path %q: want a path such as /berth/", p)
	}
	return "/" + p, nil
}
