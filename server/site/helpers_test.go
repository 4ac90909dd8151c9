package site_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
)

// newSite builds the services for cfg against the registry at upstream the way berth's main
// does (with hook, if set, receiving notifications), lets each of more change them, and
// returns the site's handler.
func newSite(t *testing.T, cfg config.Config, upstream string, hook *events.Webhook, more ...func(*site.Services)) http.Handler {
	t.Helper()
	reg, err := registry.New(registry.Options{URL: upstream, PerUser: true, ServiceWrites: cfg.AnonymousWrites, Timeout: cfg.UpstreamTimeout})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(upstream)
	px, err := proxy.New(proxy.Options{Upstream: up, ReadOnly: cfg.ReadOnly, Transport: reg.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalog(catalog.Options{Registry: reg})
	s := site.Services{
		Config: cfg, Version: "test", Registry: reg, Proxy: px, Catalog: cat,
		Sessions: session.New(cfg.SessionTTL, reg.CheckCredentials, cat.Forget, nil),
		Jobs:     newJobs(t, reg, cat, cfg), Authenticator: registry.NewAuthenticator(reg.CheckCredentials),
	}
	if hook != nil {
		s.Webhook = hook
		hook.OnCommit(func(evs []store.Event) {
			for _, e := range evs {
				s.Catalog.Invalidate(e.Repository, e.Tag) // the catalog more may have replaced
			}
		})
	}
	for _, f := range more {
		f(&s)
	}
	h, err := site.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newJobs returns a started job manager on a fresh SQLite store.
func newJobs(t *testing.T, reg *registry.Client, cat *catalog.Service, cfg config.Config) *ops.Manager {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ops.NewManager(t.Context(), ops.Options{Registry: reg, Authorizer: registry.NewAuthorizer(reg, 0), Invalidate: cat.Invalidate, ReadOnly: cfg.ReadOnly,
		Store: st, Secret: []byte("the site tests' cluster secret"), ImportDir: filepath.Join(t.TempDir(), "imports")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
		_ = st.Close()
	})
	return m
}
