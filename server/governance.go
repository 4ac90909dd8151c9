package main

import (
	"net/http"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// newGovernance builds the per-namespace policies (immutable tags, quotas); nil without
// access control, which is where namespaces live.
func newGovernance(st store.Store, control *auth.Control) (*governance.Service, error) {
	if control == nil {
		return nil, nil
	}
	g, err := store.GovernanceOf(st)
	if err != nil {
		return nil, err
	}
	a, err := store.AccountsOf(st)
	if err != nil {
		return nil, err
	}
	return governance.New(governance.Options{Store: g, Accounts: a, Audit: control.Accounts.Audit}), nil
}

// writeGuard is gov as the registry client's guard (none without governance).
func writeGuard(gov *governance.Service) registry.WriteGuard {
	if gov == nil {
		return nil
	}
	return gov
}

// guardV2 puts governance in front of a /v2 handler: the embedded registry's (every client
// and Berth's proxy reach it there), or the proxy to an external registry.
func guardV2(gov *governance.Service, h http.Handler) http.Handler {
	if gov == nil {
		return h
	}
	return gov.Middleware(h)
}
