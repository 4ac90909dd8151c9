package main

// Wiring of the catalogs: the main registry's known repositories, and every endpoint's
// catalog service with its own index.

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/catalogs"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/store"
)

// knownRepositories is --repositories with --repositories-file, each a valid name.
func knownRepositories(cfg config.Config) ([]string, error) {
	names, err := cfg.KnownRepositories()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := registry.ValidateRepository(n); err != nil {
			return nil, fmt.Errorf("--repositories: %q is not a repository name", n)
		}
	}
	return names, nil
}

// endpointCatalogs is every registry's catalog service: the main one's, and one per endpoint
// with an index of its own beside the main database, synced as often as the main registry.
func endpointCatalogs(cfg config.Config, cat *catalog.Service, repl *replication.Service) *catalogs.Set {
	dsn := cfg.DatabaseDSN()
	return catalogs.New(cat, repl, catalogs.Indexes{
		Open:         func(ctx context.Context, name string) (store.Store, error) { return store.OpenEndpoint(ctx, dsn, name) },
		Remove:       func(ctx context.Context, name string) error { return store.RemoveEndpoint(ctx, dsn, name) },
		SyncInterval: cfg.SyncInterval,
	})
}
