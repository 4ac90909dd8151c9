package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/config"
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
			return nil, fmt.Errorf("--vuln-db-url %q is not an http(s) URL", registry.ShownURL(cfg.VulnDBURL))
		}
		guard := registry.NewDialGuard([]string{u.Host}, nil)
		opts.DBURL = cfg.VulnDBURL
		opts.Fetch = &http.Client{Transport: registry.NewTransport(cfg.UpstreamTimeout, guard), Timeout: 30 * time.Minute}
	}
	return scan.New(opts)
}
