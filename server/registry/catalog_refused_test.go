package registry_test

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// A catalog answered 401 is a refusal only to credentials the registry takes otherwise;
// 403 and 404 are refusals to anyone.
func TestCatalogRefused(t *testing.T) {
	users := map[string]string{"alice": "right"}
	base := registrytest.Htpasswd(t, users)
	for _, tc := range []struct {
		name   string
		status int
		auth   authn.Authenticator
		want   bool
	}{
		{"401 with accepted credentials", http.StatusUnauthorized, &authn.Basic{Username: "alice", Password: "right"}, true},
		{"401 with wrong credentials", http.StatusUnauthorized, &authn.Basic{Username: "alice", Password: "wrong"}, false},
		{"401 anonymously", http.StatusUnauthorized, nil, false},
		{"403", http.StatusForbidden, &authn.Basic{Username: "alice", Password: "right"}, true},
		{"404 anonymously", http.StatusNotFound, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := registry.New(registry.Options{URL: registrytest.RefuseCatalog(t, base, tc.status), Auth: tc.auth})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Catalog(t.Context())
			if err == nil {
				t.Fatal("the proxy did not refuse the catalog")
			}
			if got := c.CatalogRefused(t.Context(), err); got != tc.want {
				t.Errorf("CatalogRefused = %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}
