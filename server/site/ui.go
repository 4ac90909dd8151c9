package site

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/ui"
)

// uiHandler is the go-app handler for Berth's pages and PWA files (manifest, service worker,
// app.js), the same for the server and for the static export. base is the path the UI lives
// under ("" at the root, "/sub" below it); wasmSize is app.wasm's uncompressed size (0: none).
func uiHandler(res app.ResourceResolver, base string, wasmSize int64, version string, env map[string]string) *app.Handler {
	h := &app.Handler{
		Name:            "Berth",
		ShortName:       "Berth",
		Title:           "Berth — registry browser",
		Description:     "Browse and manage a Docker/OCI registry",
		Lang:            "en",
		Author:          "Berth",
		BackgroundColor: "#0f172a",
		ThemeColor:      "#0e7490",
		LoadingLabel:    "Loading Berth…",
		Icon: app.Icon{
			Default:  "/web/icon-192.png",
			Large:    "/web/icon-512.png",
			SVG:      "/web/icon.svg",
			Maskable: "/web/icon-maskable-512.png",
		},
		Styles: []string{"/web/berth.css"},
		// Before app.wasm runs, early.js makes the prerendered page's controls work: copies
		// copy, other clicks wait for the app. Not deferred: a click may come before parsing ends.
		Scripts: []string{"/web/early.js"},
		// app.js asks for app.wasm only once the page is parsed and its scripts have run; the
		// preload starts the download with the page, and app.js's fetch takes it over. A page
		// whose service worker keeps app.wasm goes without (pages, in prerender.go).
		RawHeaders: []string{wasmPreload(res.Resolve("/web/app.wasm"))},
		// go-app caches the PNG icons but not the SVG one the header shows.
		CacheableResources: []string{"/web/icon.svg"},
		Resources:          res,
		// The manifest's start_url; go-app writes scope "/" and display "standalone" itself.
		StartURL:              base + "/",
		Version:               version,
		Env:                   env,
		ServiceWorkerTemplate: serviceWorker,
	}
	// app.wasm is served compressed, so Content-Length is not its size: tell the loader the
	// real one, or its progress runs past 100%.
	if wasmSize > 0 {
		h.WasmContentLength = strconv.FormatInt(wasmSize, 10)
	}
	return h
}

// serviceWorker is go-app's worker with three changes. Navigations are preloaded (the page's
// request leaves while the worker boots). An open page's wait for changes is left to the
// browser: fetched by the worker, it outlived the page for its 25 s and held a connection. Pages come from the network first, the
// cache only when the network fails. A page Berth serves carries its data, read for whoever
// asks (go-app's worker would answer "/" from its cache, without data, for as long as the
// version lasts); offline, a page the cache lacks (a deep link such as
// /repositories/library/alpine) gets the cached app shell, so Berth opens on any page it has
// data for, not only the start page.
var serviceWorker = func() string {
	const plain = `async function fetchWithCache(request) {
  const cachedResponse = await caches.match(request);`
	const networkFirst = `async function fetchWithCache(request, event) {
  if (request.mode === "navigate") {
    try {
      const preloaded = event && (await event.preloadResponse);
      if (preloaded) {
        return preloaded;
      }
      return await fetch(request);
    } catch (error) {
      const page = (await caches.match(request)) || (await caches.match(self.registration.scope));
      if (page) {
        return page;
      }
      throw error;
    }
  }
  const cachedResponse = await caches.match(request);`
	// Navigation preload: the page's request leaves while the worker starts, instead of after.
	const (
		fetchPlain     = `event.respondWith(fetchWithCache(event.request));`
		fetchPreloaded = `const path = new URL(event.request.url).pathname;
  if (path.includes("/api/v1/") && path.endsWith("/changes")) {
    return; // an open page's long poll: the browser's own, so leaving the page ends it
  }
  event.respondWith(fetchWithCache(event.request, event));`
		activatePlain = `self.addEventListener("activate", async (event) => {
`
		activatePreload = `self.addEventListener("activate", async (event) => {
  if (self.registration.navigationPreload) {
    event.waitUntil(self.registration.navigationPreload.enable());
  }
`
	)
	w := app.DefaultAppWorkerJS
	if !strings.Contains(w, plain) || !strings.Contains(w, fetchPlain) || !strings.Contains(w, activatePlain) {
		return "" // go-app changed its worker; keep it as it is
	}
	w = strings.Replace(w, plain, networkFirst, 1)
	w = strings.Replace(w, fetchPlain, fetchPreloaded, 1)
	return strings.Replace(w, activatePlain, activatePreload, 1)
}()

// wasmProgress is where go-app's app.js hands app.wasm to the compiler: through a stream of
// its own, read chunk by chunk in JavaScript to move the loader's progress label.
var wasmProgress = regexp.MustCompile(`fetchWithProgress\(("[^"]+"), showProgress\)`)

// wasmRun is where go-app's app.js starts the app, once app.wasm is compiled.
const wasmRun = "go.run(wasm.instance);"

// directWasm changes go-app's app.js for a page the server rendered with its data (it has
// a seed, and hides the loader):
//   - app.wasm's answer goes to the compiler as it comes. Pumped through JavaScript for the
//     progress label, its 12 MB held the page's thread chunk after chunk while the rows were
//     to be painted.
//   - On a page without app.wasm's preload (its service worker keeps app.wasm), app.wasm is
//     asked for after the next frame: read from the cache it comes at once, and its
//     compiling (taking a compiled copy over, 0.2 s of the page's thread here) came before
//     the rows' first paint as often as not. With the preload (a first visit), at once.
//   - The app starts after the next frame. Its start holds the page's thread for 150–300 ms
//     (the Go runtime, then the first render), and began as soon as the compiler was done,
//     often before the browser had painted the rows it had already parsed: they showed only
//     with the app's (0.8–1 s into a 10,000-tag page's visit instead of 0.3 s).
//
// Other pages keep the loader's progress. An app.js without those calls (go-app changed it)
// is left as it is.
func directWasm(js []byte) []byte {
	seeded := `document.getElementById("` + ui.SeedID + `")`
	if !wasmProgress.Match(js) || bytes.Count(js, []byte(wasmRun)) != 1 {
		return js
	}
	// A hidden tab paints nothing, and its timers run late: it goes on at once.
	const frame = `(document.hidden ? Promise.resolve() : new Promise((painted) => { requestAnimationFrame(() => setTimeout(painted, 0)); setTimeout(painted, 100); }))`
	preloaded := `[...document.querySelectorAll('link[rel="preload"]')].some((l) => l.getAttribute("href") === $1)`
	js = wasmProgress.ReplaceAll(js, []byte(`(`+seeded+` ? (`+preloaded+` ? fetch($1) : `+frame+`.then(() => fetch($1))) : fetchWithProgress($1, showProgress))`))
	painted := `if (` + seeded + `) await ` + frame + `;
    `
	return bytes.Replace(js, []byte(wasmRun), []byte(painted+wasmRun), 1)
}

// prefixed resolves go-app's resources under a base path for the static export: /web/… and
// go-app's own files (/app.js, /wasm_exec.js, /app-worker.js, /manifest.webmanifest,
// /app.css) get the prefix, "/" becomes the prefix (go-app's root, stripped before routing),
// and page links are left alone: the UI writes them with the prefix already (ui.Path).
type prefixed struct{ base string }

// goAppFiles are the files go-app's handler generates at the root.
var goAppFiles = map[string]bool{
	"/app.js": true, "/wasm_exec.js": true, "/app-worker.js": true,
	"/manifest.webmanifest": true, "/app.css": true,
}

// Resolve implements app.ResourceResolver.
func (p prefixed) Resolve(location string) string {
	switch {
	case location == "" || location == "/":
		if p.base == "" {
			return "/"
		}
		return p.base
	case strings.HasPrefix(location, "http://"), strings.HasPrefix(location, "https://"):
		return location
	}
	clean := "/" + strings.Trim(location, "/")
	if clean == "/web" || strings.HasPrefix(clean, "/web/") || goAppFiles[clean] {
		return p.base + clean
	}
	return location
}

// wasmPreload is the head's preload of app.wasm at href; preloadTag finds it in a page.
func wasmPreload(href string) string {
	return `<link rel="preload" href="` + href + `" as="fetch" crossorigin="anonymous">`
}

var preloadTag = regexp.MustCompile(`\n?\s*<link rel="preload" href="[^"]*/web/app\.wasm" as="fetch" crossorigin="anonymous">`)
