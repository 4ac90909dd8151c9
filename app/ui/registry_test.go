package ui

import "testing"

// TestRegistryPaths: /r/{registry}/… names another endpoint, whose pages are the main
// registry's pages below that prefix; "main" is the main registry at its own URLs.
func TestRegistryPaths(t *testing.T) {
	for _, c := range []struct{ path, registry, rest string }{
		{"/", "", "/"},
		{"/repositories/team/app:v1", "", "/repositories/team/app:v1"},
		{"/r/prod", "prod", "/"},
		{"/r/prod/", "prod", "/"},
		{"/r/prod/repositories/team/app:v1", "prod", "/repositories/team/app:v1"},
		{"/r/main/repositories/team/app", "", "/repositories/team/app"},
	} {
		if got := registryOf(c.path); got != c.registry {
			t.Errorf("registryOf(%q) = %q, want %q", c.path, got, c.registry)
		}
		if got := unprefixed(c.path); got != c.rest {
			t.Errorf("unprefixed(%q) = %q, want %q", c.path, got, c.rest)
		}
	}
	if got := registryURL("prod", "/repositories/a"); got != "/r/prod/repositories/a" {
		t.Errorf("registryURL(prod) = %q", got)
	}
	if got := registryURL("main", "/"); got != "/" {
		t.Errorf("registryURL(main) = %q", got)
	}
}
