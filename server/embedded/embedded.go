// Package embedded runs a CNCF distribution registry inside the Berth process, so the UI can be
// tried (and tested end to end) without a separate registry container.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"

	// Registers the "filesystem" storage driver with the driver factory used by NewApp.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Registry is an in-process distribution registry storing its data on the local filesystem.
type Registry struct {
	app *handlers.App
}

// New creates a registry storing blobs and manifests under dir (created if missing). Deletes are enabled
// (storage.delete.enabled) so later write operations work.
func New(ctx context.Context, dir string) (*Registry, error) {
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

	app, err := newApp(ctx, config(abs, secret))
	if err != nil {
		return nil, err
	}
	return &Registry{app: app}, nil
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
	cfg.Catalog.MaxEntries = 1000
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
