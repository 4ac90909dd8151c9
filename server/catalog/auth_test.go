package catalog_test

import (
	"context"
	"errors"
	"github.com/berth-registry/berth/server/access"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestProtectedRegistries reads registries behind Basic (htpasswd) and Bearer token auth, with
// service credentials and with a signed-in user's, and checks what happens without them.
func TestProtectedRegistries(t *testing.T) {
	users := map[string]string{"alice": "wonderland"}
	alice := authn.FromConfig(authn.AuthConfig{Username: "alice", Password: "wonderland"})
	wrong := authn.FromConfig(authn.AuthConfig{Username: "alice", Password: "nope"})

	for _, tc := range []struct {
		name  string
		start func(testing.TB, map[string]string) string
	}{
		{"htpasswd", registrytest.Htpasswd},
		{"token", registrytest.Token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.start(t, users)
			host := strings.TrimPrefix(base, "http://")
			img, _ := random.Image(512, 2)
			ref, _ := name.ParseReference(host+"/secret/app:v1", name.Insecure)
			if err := remote.Write(ref, img, remote.WithAuth(alice)); err != nil {
				t.Fatalf("push with credentials: %v", err)
			}
			ctx := context.Background()

			anon := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: base})})
			_, err := anon.Repositories(ctx, catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 10})
			if status(err) != http.StatusUnauthorized {
				t.Fatalf("anonymous catalog: %v, want 401", err)
			}

			service := newCatalog(catalog.Options{Registry: registrytest.NewClient(t, registry.Options{URL: base, Auth: alice})})
			page, err := service.Repositories(ctx, catalog.RepositoryQuery{Query: "", Offset: 0, Limit: 10})
			if err != nil || page.Total != 1 || page.Repositories[0].Name != "secret/app" {
				t.Fatalf("with service credentials: %+v, %v", page, err)
			}
			tags, err := service.Tags(ctx, "secret/app", catalog.TagQuery{Offset: 0, Limit: 10})
			if err != nil || len(tags.Tags) != 1 || tags.Tags[0].Error != "" || tags.Tags[0].Size == 0 {
				t.Fatalf("tags with service credentials: %+v, %v", tags, err)
			}

			// A signed-in user reads as themselves through the context.
			userCtx := access.With(ctx, access.Identity{Kind: access.User, Key: "session-1", Auth: alice})
			if _, err := anon.Manifest(userCtx, "secret/app", "v1"); err != nil {
				t.Fatalf("manifest as signed-in user: %v", err)
			}
			// The digest-keyed cache does not let anyone else read what the user read.
			d, _ := img.Digest()
			if _, err := anon.Manifest(ctx, "secret/app", d.String()); status(err) != http.StatusUnauthorized {
				t.Fatalf("cached manifest read anonymously: %v, want 401", err)
			}

			if err := registrytest.NewClient(t, registry.Options{URL: base}).CheckCredentials(ctx, alice); err != nil {
				t.Errorf("right credentials refused: %v", err)
			}
			err = registrytest.NewClient(t, registry.Options{URL: base}).CheckCredentials(ctx, wrong)
			var he *httperr.Error
			if !errors.As(err, &he) || he.Code != api.CodeInvalidCredentials || he.Status != http.StatusUnauthorized {
				t.Errorf("wrong password: %v, want 401 INVALID_CREDENTIALS", err)
			}
		})
	}
}

func status(err error) int {
	var he *httperr.Error
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}
