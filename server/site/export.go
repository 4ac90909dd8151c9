package site

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
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
	// WebDir holds app.wasm, CSS and icons, copied into Dir/web.
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
	web, err := filepath.Abs(opts.WebDir)
	if err != nil {
		return fmt.Errorf("web directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(web, "app.wasm")); err != nil {
		return fmt.Errorf("web directory has no app.wasm (make wasm builds it): %w", err)
	}
	if err := copyWebDir(web, filepath.Join(opts.Dir, "web")); err != nil {
		return err
	}
	if err := Precompress(filepath.Join(opts.Dir, "web", "app.wasm")); err != nil {
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
	dirs := &webDir{dir: web}
	h := uiHandler(prefixed{base: base}, base, web, dirs.version(opts.Version), env)
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

// copyWebDir copies the regular files of the web directory, except compressed copies that
// Precompress rebuilds for the exported app.wasm.
func copyWebDir(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") || strings.Contains(name, ".tmp") {
			continue
		}
		if err := copyFile(filepath.Join(from, name), filepath.Join(to, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("export %s: %w", from, err)
	}
	return nil
}
