package site

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// Berth's service worker is go-app's with pages fetched from the network first, preloaded
// while the worker boots.
func TestServiceWorkerFetchesPagesFirst(t *testing.T) {
	if serviceWorker == "" {
		t.Fatal("go-app's worker changed: the page fetch is no longer patched")
	}
	for _, want := range []string{`request.mode === "navigate"`, "return await fetch(request);", "caches.match(self.registration.scope)",
		"navigationPreload.enable()", "await event.preloadResponse", "fetchWithCache(event.request, event)", `path.includes("/api/v1/") && path.endsWith("/changes")`} {
		if !strings.Contains(serviceWorker, want) {
			t.Errorf("worker lacks %q", want)
		}
	}
}

// go-app's app.js, as Berth serves it, hands app.wasm to the compiler straight from fetch
// on a page that came with its data (the loader is hidden there), asking for it after the
// next frame once the service worker keeps it, and starts the app after the next frame; it
// keeps the loader's progress on other pages.
func TestAppJSStreamsWasmOnSeededPages(t *testing.T) {
	h := pages(uiHandler(prefixed{}, "", 0, "v1", nil), nil, func(h http.Handler) http.Handler { return h })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/app.js", nil))
	js := rec.Body.String()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != strconv.Itoa(len(js)) {
		t.Fatalf("GET /app.js: %d, Content-Length %q for %d bytes", rec.Code, rec.Header().Get("Content-Length"), len(js))
	}
	frame := `new Promise((painted) => { requestAnimationFrame(() => setTimeout(painted, 0)); setTimeout(painted, 100); })`
	want := `(document.getElementById("berth-seed") ? (navigator.serviceWorker && navigator.serviceWorker.controller ? ` + frame +
		`.then(() => fetch("/web/app.wasm")) : fetch("/web/app.wasm")) : fetchWithProgress("/web/app.wasm", showProgress))`
	if strings.Count(js, want) != 1 || strings.Count(js, `fetchWithProgress("`) != 1 {
		t.Fatalf("app.js does not choose between the direct fetch and the progress (go-app changed it?):\n%s", js)
	}
	// The app starts after the next frame there (or 100 ms without one), once.
	wait := `if (document.getElementById("berth-seed")) await ` + frame + `;`
	if at, run := strings.Index(js, wait), strings.Index(js, "go.run(wasm.instance);"); at < 0 || run < at || strings.Count(js, "go.run(") != 1 {
		t.Fatalf("app.js does not wait for a frame before it starts the app on a seeded page:\n%s", js)
	}
	// Only app.js is changed.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wasm_exec.js", nil))
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "berth-seed") {
		t.Fatalf("GET /wasm_exec.js: %d, changed", rec.Code)
	}
}
