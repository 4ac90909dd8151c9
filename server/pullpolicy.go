package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/governance"
	"github.com/berth-registry/berth/server/proxy"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/scan"
	"github.com/berth-registry/berth/server/store"
)

// globalPull is the global pull policy the flags set, checked: a known severity, keys only
// with signatures required, keys a PEM file of public keys.
func globalPull(cfg config.Config) (store.PullPolicy, error) {
	p := store.PullPolicy{Severity: cfg.PullPolicySeverity, Signed: cfg.PullPolicySigned}
	if p.Severity != "" && scan.Rank(p.Severity) == 0 {
		return p, fmt.Errorf("--pull-policy-severity %q: want critical, high, medium or low", p.Severity)
	}
	if cfg.PullPolicyKeys == "" {
		return p, nil
	}
	if !p.Signed {
		return p, fmt.Errorf("--pull-policy-keys needs --pull-policy-signed")
	}
	raw, err := os.ReadFile(cfg.PullPolicyKeys)
	if err != nil {
		return p, fmt.Errorf("--pull-policy-keys: %w", err)
	}
	if _, err := scan.ParseKeys(string(raw)); err != nil {
		return p, fmt.Errorf("--pull-policy-keys %s: %w", cfg.PullPolicyKeys, err)
	}
	p.Keys = string(raw)
	return p, nil
}

// pullPolicies sets up the pull policies: with access control the namespaces' policies (the
// global one where a namespace has none) are checked by governance's PullMiddleware, in
// front of the embedded registry's port (which Berth's proxy reaches too) or of the proxy to
// an external registry; without, the global policy is checked by the proxy (returned).
func pullPolicies(cfg config.Config, scans *scan.Service, gov *governance.Service) (proxy.Admit, error) {
	g, err := globalPull(cfg)
	if err != nil {
		return nil, err
	}
	keys, _ := scan.ParseKeys(g.Keys)
	policies := scan.Policies{Global: scan.Policy{Severity: g.Severity, Signed: g.Signed, Keys: keys}}
	if gov == nil {
		return scans.Admit(policies), nil
	}
	policies.Lookup = gov.LookupPull
	gov.GuardPulls(scans.Admit(policies), auth.IsInternal)
	return nil, nil
}

// internalReads marks the reads Berth makes on users' behalf (the UI's views) as its own
// (auth.MarkInternal), so the pull policies in front of the embedded registry let them
// through; requests the /v2 proxy forwards for clients go unmarked. nil marks nothing (an
// external registry: Berth's own reads never pass its /v2 guard).
type internalReads struct{ inner http.RoundTripper }

// internalMarks marks Berth's reads when the pull policies guard the embedded registry's
// port (access control): nil otherwise.
func internalMarks(cfg config.Config, gov *governance.Service) *internalReads {
	if !cfg.Embedded() || gov == nil {
		return nil
	}
	return &internalReads{inner: registry.NewTransport(cfg.UpstreamTimeout, nil)}
}

// RoundTrip implements http.RoundTripper.
func (m *internalReads) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if proxy.Proxied(r) {
		r.Header.Del(auth.InternalHeader)
	} else {
		auth.MarkInternal(r.Header)
	}
	return m.inner.RoundTrip(r)
}

// transport is what Berth's clients read with: marked, or nil (the default) when m is.
func (m *internalReads) transport() http.RoundTripper {
	if m == nil {
		return nil
	}
	return m
}
