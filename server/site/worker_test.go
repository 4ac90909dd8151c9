package site

import (
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
