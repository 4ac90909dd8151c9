package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/scan"
	"github.com/berth-registry/berth/server/store"
)

// newScans builds the scan service: images read with Berth's own access, the database
// fetched from --vuln-db-url (when set) through a dial guard allowing only its host, as
// copies reach remote registries.
func newScans(cfg config.Config, reg, own *registry.Client, authz access.Authorizer, st store.Store, relay *hookRelay) (*scan.Service, error) {
	opts := scan.Options{
		Registry: reg, Own: own, Authorizer: authz, Store: st, OnReport: relay.scanFinished,
		WorkDir: filepath.Join(cfg.DataDir, "scan"), Concurrency: cfg.ScanConcurrency,
	}
	if cfg.VulnDBURL != "" {
		u, err := url.Parse(cfg.VulnDBURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("--vuln-db-url %q is not an http(s) URL", cfg.VulnDBURL)
		}
		guard := registry.NewDialGuard([]string{u.Host}, nil)
		opts.DBURL = cfg.VulnDBURL
		opts.Fetch = &http.Client{Transport: registry.NewTransport(cfg.UpstreamTimeout, guard), Timeout: 30 * time.Minute}
	}
	return scan.New(opts)
}

// seedDemoAdvisories loads the demo's fictional advisories (demo.Advisories) when no
// vulnerability database is loaded, so a fresh demo shows Berth's findings offline; the
// scans of the demo's pushes and the periodic sweep match against it.
func seedDemoAdvisories(ctx context.Context, st store.Store) {
	if _, ok, err := st.VulnDBState(ctx); err != nil || ok {
		return
	}
	raw, err := demo.Advisories(time.Now())
	if err == nil {
		var db store.VulnDB
		if db, err = scan.Load(ctx, bytes.NewReader(raw), scan.DefaultMaxDBSize, "demo: fictional advisories"); err == nil {
			err = st.PutVulnDB(ctx, db)
		}
	}
	if err != nil {
		slog.Warn("demo advisories not loaded", "err", err)
	}
}
