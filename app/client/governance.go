package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/app/api"
)

// Governance is the namespace policies' part of /api/v1 (immutable tags, quotas); only
// Berth with access control has it.
type Governance interface {
	ImmutableRules(ctx context.Context, namespace string) ([]api.ImmutableRule, error)
	AddImmutableRule(ctx context.Context, namespace string, patterns []string) (api.ImmutableRule, error)
	// LiftImmutableRule lifts (or restores) a rule: administrators only.
	LiftImmutableRule(ctx context.Context, namespace string, id int64, lifted bool) error
	DeleteImmutableRule(ctx context.Context, namespace string, id int64) error
	Quota(ctx context.Context, namespace string) (api.Quota, error)
	SetQuota(ctx context.Context, namespace string, req api.QuotaRequest) (api.Quota, error)
}

func policyPath(namespace, what string) string {
	return "/api/v1/namespaces/" + url.PathEscape(namespace) + "/" + what
}

func (c *Berth) ImmutableRules(ctx context.Context, namespace string) ([]api.ImmutableRule, error) {
	var l struct {
		Rules []api.ImmutableRule `json:"rules"`
	}
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "immutable"), nil, &l)
	return l.Rules, err
}

func (c *Berth) AddImmutableRule(ctx context.Context, namespace string, patterns []string) (api.ImmutableRule, error) {
	var r api.ImmutableRule
	err := c.do(ctx, http.MethodPost, policyPath(namespace, "immutable"), api.ImmutableRuleRequest{Patterns: patterns}, &r)
	return r, err
}

func (c *Berth) LiftImmutableRule(ctx context.Context, namespace string, id int64, lifted bool) error {
	return c.do(ctx, http.MethodPatch, policyPath(namespace, fmt.Sprintf("immutable/%d", id)), api.ImmutableRuleRequest{Lifted: &lifted}, nil)
}

func (c *Berth) DeleteImmutableRule(ctx context.Context, namespace string, id int64) error {
	return c.do(ctx, http.MethodDelete, policyPath(namespace, fmt.Sprintf("immutable/%d", id)), nil, nil)
}

func (c *Berth) Quota(ctx context.Context, namespace string) (api.Quota, error) {
	var q api.Quota
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "quota"), nil, &q)
	return q, err
}

func (c *Berth) SetQuota(ctx context.Context, namespace string, req api.QuotaRequest) (api.Quota, error) {
	var q api.Quota
	err := c.do(ctx, http.MethodPut, policyPath(namespace, "quota"), req, &q)
	return q, err
}
