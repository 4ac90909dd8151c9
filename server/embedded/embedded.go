// Package embedded runs a CNCF distribution registry inside the Berth process, so the UI can be
// tried (and tested end to end) without a separate registry container.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	// Register the access controllers WithHtpasswd and WithTokenAuth name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
)

// Registry is an in-process distribution registry storing its data on the local filesystem.
type Registry struct {
	app *handlers.App
	// storage reads the same filesystem store as app, for what the registry API lacks
	// (enumerating a repository's manifests).
	storage distribution.Namespace
}

// Option changes the embedded registry's configuration.
type Option func(*configuration.Configuration)

// WithHtpasswd makes the registry require Basic auth checked against an htpasswd file (bcrypt).
func WithHtpasswd(path string) Option {
	return func(c *configuration.Configuration) {
		c.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "berth", "path": path}}
	}
}

// WithTokenAuth makes the registry require Bearer tokens from the token server at realm, signed
// by a key whose certificate is in the PEM file rootCertBundle.
func WithTokenAuth(realm, service, issuer, rootCertBundle string) Option {
	return func(c *configuration.Configuration) {
		c.Auth = configuration.Auth{"token": configuration.Parameters{
			"realm": realm, "service": service, "issuer": issuer, "rootcertbundle": rootCertBundle,
		}}
	}
}

// WithNotifications makes the registry send its push, pull and delete events to url, with the
// given extra headers (such as Authorization), retrying with backoff as distribution does.
func WithNotifications(name, url string, headers http.Header, timeout, backoff time.Duration) Option {
	return func(c *configuration.Configuration) {
		c.Notifications.Endpoints = append(c.Notifications.Endpoints, configuration.Endpoint{
			Name: name, URL: url, Headers: headers, Timeout: timeout, Threshold: 3, Backoff: backoff,
		})
	}
}

// WithCatalogMaxEntries sets the largest catalog page the registry serves (catalog.maxentries);
// larger requests get 400 PAGINATION_NUMBER_INVALID, as from a stock registry:2.
func WithCatalogMaxEntries(n int) Option {
	return func(c *configuration.Configuration) { c.Catalog.MaxEntries = n }
}

// New creates a registry storing blobs and manifests under dir (created if missing). Deletes are enabled
// (storage.delete.enabled) so later write operations work.
func New(ctx context.Context, dir string, opts ...Option) (*Registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded registry: resolve %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("embedded registry: create %q: %w", abs, err)
	}
	secret, err := randomSecret()
	if err != nil {
		return nil, err
	}
	routeLogsToSlog()

	cfg := config(abs, secret)
	for _, o := range opts {
		o(cfg)
	}
	app, err := newApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	drv, err := filesystem.FromParameters(map[string]any{"rootdirectory": abs})
	if err != nil {
		return nil, fmt.Errorf("embedded registry: storage: %w", err)
	}
	ns, err := storage.NewRegistry(ctx, drv)
	if err != nil {
		return nil, fmt.Errorf("embedded registry: storage: %w", err)
	}
	return &Registry{app: app, storage: ns}, nil
}

// RepositoryManifests calls fn with the digest of every manifest repository holds, read from
// the registry's storage (no access check: callers check the caller's registry access first).
// A repository that was never pushed to has none.
func (r *Registry) RepositoryManifests(ctx context.Context, repository string, fn func(digest string) error) error {
	named, err := reference.WithName(repository)
	if err != nil {
		return fmt.Errorf("embedded registry: repository %q: %w", repository, err)
	}
	repo, err := r.storage.Repository(ctx, named)
	if err != nil {
		return fmt.Errorf("embedded registry: repository %s: %w", repository, err)
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return fmt.Errorf("embedded registry: manifests of %s: %w", repository, err)
	}
	en, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return fmt.Errorf("embedded registry: the storage cannot enumerate manifests")
	}
	err = en.Enumerate(ctx, func(d digest.Digest) error { return fn(d.String()) })
	if errors.As(err, new(driver.PathNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded registry: manifests of %s: %w", repository, err)
	}
	return nil
}

// config builds the configuration by hand rather than through configuration.Parse, because Parse
// also applies REGISTRY_* environment overrides meant for a standalone registry. The price is that
// the defaults Parse would fill in (catalog and tag limits) have to be set here explicitly.
func config(dir, secret string) *configuration.Configuration {
	cfg := &configuration.Configuration{Version: configuration.MajorMinorVersion(0, 1)}
	cfg.Log.Level = "info"
	cfg.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": dir},
		"delete":     configuration.Parameters{"enabled": true},
		// The filesystem driver cannot hand out redirect URLs; saying so up front saves a failed
		// URLFor attempt on every blob GET.
		"redirect": configuration.Parameters{"disable": true},
		"cache":    configuration.Parameters{"blobdescriptor": "inmemory"},
		"maintenance": configuration.Parameters{
			// The purger goroutine sleeps a random 0–59 minutes, then walks the whole store; its
			// done channel is unexported so Close could not wait for it. Interrupted uploads are
			// rare in a single-user embedded store, so it is not worth a background walker.
			"uploadpurging": map[any]any{"enabled": false},
		},
	}
	cfg.HTTP.Secret = secret
	cfg.Catalog.MaxEntries = 10000
	cfg.Tags.MaxTags = 1000
	return cfg
}

// newApp turns NewApp's panics (its way of reporting bad configuration or an unusable storage
// driver) into an error.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			app, err = nil, fmt.Errorf("embedded registry: start: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// randomSecret returns a per-process HTTP secret. It only signs upload session state, and uploads
// never outlive the process that started them, so it need not be stable across restarts.
func randomSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("embedded registry: generate http secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Handler returns the registry's HTTP handler (serves /v2/...).
func (r *Registry) Handler() http.Handler { return r.app }

// Close stops background work (if any).
func (r *Registry) Close() error {
	if err := r.app.Shutdown(); err != nil {
		return fmt.Errorf("embedded registry: shutdown: %w", err)
	}
	return nil
}
