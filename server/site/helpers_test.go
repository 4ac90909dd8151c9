package site_test

import (
	"net/http"
	"net/url"
	"testing"

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
// does (with hook, if set, receiving notifications) and returns the site's handler.
func newSite(t *testing.T, cfg config.Config, upstream string, hook *events.Webhook) http.Handler {
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
	cat := catalog.New(catalog.Options{Registry: reg})
	s := site.Services{
		Config: cfg, Version: "test", Registry: reg, Proxy: px, Catalog: cat,
		Sessions: session.New(cfg.SessionTTL, reg.CheckCredentials, cat.Forget, nil),
		Jobs:     ops.NewManager(ops.Options{Registry: reg, Invalidate: cat.Invalidate, ReadOnly: cfg.ReadOnly}),
	}
	if hook != nil {
		s.Webhook = hook
		hook.OnCommit(func(evs []store.Event) {
			for _, e := range evs {
				cat.Invalidate(e.Repository, e.Tag)
			}
		})
	}
	h, err := site.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
