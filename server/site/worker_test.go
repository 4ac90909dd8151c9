package site

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
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
// on a page that came with its data (the loader is hidden there), at once when the page
// preloads it and after the next frame otherwise, and starts the app after the next frame
// (a hidden tab goes on at once); it keeps the loader's progress on other pages.
func TestAppJSStreamsWasmOnSeededPages(t *testing.T) {
	h := pages(uiHandler(prefixed{}, "", 0, "v1", nil), nil, func(h http.Handler) http.Handler { return h })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/app.js", nil))
	js := rec.Body.String()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != strconv.Itoa(len(js)) {
		t.Fatalf("GET /app.js: %d, Content-Length %q for %d bytes", rec.Code, rec.Header().Get("Content-Length"), len(js))
	}
	frame := `(document.hidden ? Promise.resolve() : new Promise((painted) => { requestAnimationFrame(() => setTimeout(painted, 0)); setTimeout(painted, 100); }))`
	want := `(document.getElementById("berth-seed") ? ([...document.querySelectorAll('link[rel="preload"]')].some((l) => l.getAttribute("href") === "/web/app.wasm") ? fetch("/web/app.wasm") : ` +
		frame + `.then(() => fetch("/web/app.wasm"))) : fetchWithProgress("/web/app.wasm", showProgress))`
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

// A page a navigation preload of the service worker asked for (go-app's worker keeps
// app.wasm) comes without app.wasm's preload; other pages keep it.
func TestPagesDropWasmPreloadWhenKept(t *testing.T) {
	link := wasmPreload("/sub/web/app.wasm")
	render := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><html><head>\n    " + link + "\n  </head><body>rows</body></html>"))
	})
	h := pages(render, markingSource{marked: new(atomic.Int32)}, func(h http.Handler) http.Handler { return h })
	for _, c := range []struct {
		mode, preload string
		want          bool
	}{{"navigate", "", true}, {"navigate", "true", false}, {"", "true", true}, {"", "", true}} {
		req := httptest.NewRequest(http.MethodGet, "/repositories/team/app", nil)
		req.Header.Set("Sec-Fetch-Mode", c.mode)
		if c.preload != "" {
			req.Header.Set("Service-Worker-Navigation-Preload", c.preload)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if got := strings.Contains(body, link); rec.Code != http.StatusOK || got != c.want {
			t.Errorf("Sec-Fetch-Mode %q, navigation preload %q: status %d, preload kept %v, want %v:\n%s", c.mode, c.preload, rec.Code, got, c.want, body)
		}
		if !c.want && !strings.Contains(body, "<head>\n  </head>") {
			t.Errorf("the preload's line was not removed whole:\n%s", body)
		}
		if rec.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("Content-Length %q for %d bytes", rec.Header().Get("Content-Length"), len(body))
		}
	}
}
