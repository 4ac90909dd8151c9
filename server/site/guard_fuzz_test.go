package site

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzCleanPath checks the request guard's path test: whatever it lets through is a path that
// means the same to Berth, to a proxy that cleans dot segments and to a registry — no dot or
// empty segments, no encoded separators, dots or NUL — so nothing can step outside /v2 or /api.
func FuzzCleanPath(f *testing.F) {
	for _, p := range []string{"/v2/", "/v2/library/alpine/manifests/latest", "/v2/a/../b", "//v2", "/v2/a%2fb", "/v2/%2e%2e/x",
		"/api/v1/repositories/a/b/tags", "/v2/a\\b", "/v2/a/./b", "/v2/a%00", "/", "/web/app.wasm"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !cleanPath(raw) {
			return
		}
		decoded, err := url.PathUnescape(raw)
		if err != nil {
			return // Go's server refuses such paths before any handler runs
		}
		if strings.ContainsAny(decoded, "\\\x00") {
			t.Fatalf("%q passed with %q after decoding", raw, decoded)
		}
		trimmed := strings.TrimSuffix(decoded, "/")
		if trimmed == "" {
			trimmed = "/"
		}
		if path.Clean(decoded) != trimmed {
			t.Fatalf("%q passed but cleans to %q", raw, path.Clean(decoded))
		}
	})
}
