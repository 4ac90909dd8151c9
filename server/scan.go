package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/governance"
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
		client, err := scan.DBClient(cfg.VulnDBURL, cfg.UpstreamTimeout)
		if err != nil {
			return nil, fmt.Errorf("--vuln-db-url: %w", err)
		}
		opts.DBURL, opts.Fetch = cfg.VulnDBURL, client
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

// attachScans makes scans push their results to the registry with --scan-attach.
func attachScans(cfg config.Config, upstream string, svcAuth authn.Authenticator, control *auth.Control, gov *governance.Service, scans *scan.Service) error {
	if !cfg.ScanAttach {
		return nil
	}
	w, err := scanWriter(cfg, upstream, svcAuth, control, gov)
	if err != nil {
		return err
	}
	scans.AttachTo(w)
	return nil
}

// scanWriter is the client --scan-attach pushes scan results with: Berth itself (its
// service credentials, or with access control tokens it mints for itself), through the
// namespace policies' guard like other writes Berth makes on its own.
func scanWriter(cfg config.Config, upstream string, svcAuth authn.Authenticator, control *auth.Control, gov *governance.Service) (*registry.Client, error) {
	var t http.RoundTripper = registry.NewTransport(cfg.UpstreamTimeout, nil)
	if control != nil {
		t, svcAuth = auth.NewServiceTransport(control.Issuer, t), nil
	}
	return registry.New(registry.Options{
		URL: upstream, Auth: svcAuth, ServiceWrites: true, Transport: t,
		Timeout: cfg.UpstreamTimeout, Concurrency: cfg.Concurrency, Guard: writeGuard(gov),
	})
}
