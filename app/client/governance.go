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

// Automation is the namespace webhooks' and retention policies' part of /api/v1.
type Automation interface {
	Webhooks(ctx context.Context, namespace string) ([]api.Webhook, error)
	CreateWebhook(ctx context.Context, namespace string, req api.WebhookRequest) (api.WebhookCreated, error)
	DeleteWebhook(ctx context.Context, namespace, id string) error
	TestWebhook(ctx context.Context, namespace, id string) error
	Deliveries(ctx context.Context, namespace, id string) ([]api.Delivery, error)
	RetentionPolicies(ctx context.Context, namespace string) ([]api.RetentionPolicy, error)
	CreateRetentionPolicy(ctx context.Context, namespace string, p api.RetentionPolicy) (api.RetentionPolicy, error)
	DeleteRetentionPolicy(ctx context.Context, namespace, id string) error
	RetentionPreview(ctx context.Context, namespace, id string) ([]api.CleanupPlan, error)
	RetentionRuns(ctx context.Context, namespace, id string) ([]api.RetentionRun, error)
}

func (c *Berth) Webhooks(ctx context.Context, namespace string) ([]api.Webhook, error) {
	var l struct {
		Webhooks []api.Webhook `json:"webhooks"`
	}
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "webhooks"), nil, &l)
	return l.Webhooks, err
}

func (c *Berth) CreateWebhook(ctx context.Context, namespace string, req api.WebhookRequest) (api.WebhookCreated, error) {
	var w api.WebhookCreated
	err := c.do(ctx, http.MethodPost, policyPath(namespace, "webhooks"), req, &w)
	return w, err
}

func (c *Berth) DeleteWebhook(ctx context.Context, namespace, id string) error {
	return c.do(ctx, http.MethodDelete, policyPath(namespace, "webhooks/"+url.PathEscape(id)), nil, nil)
}

func (c *Berth) TestWebhook(ctx context.Context, namespace, id string) error {
	return c.do(ctx, http.MethodPost, policyPath(namespace, "webhooks/"+url.PathEscape(id)+"/test"), nil, nil)
}

func (c *Berth) Deliveries(ctx context.Context, namespace, id string) ([]api.Delivery, error) {
	var l struct {
		Deliveries []api.Delivery `json:"deliveries"`
	}
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "webhooks/"+url.PathEscape(id)+"/deliveries"), nil, &l)
	return l.Deliveries, err
}

func (c *Berth) RetentionPolicies(ctx context.Context, namespace string) ([]api.RetentionPolicy, error) {
	var l struct {
		Policies []api.RetentionPolicy `json:"policies"`
	}
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "retention"), nil, &l)
	return l.Policies, err
}

func (c *Berth) CreateRetentionPolicy(ctx context.Context, namespace string, p api.RetentionPolicy) (api.RetentionPolicy, error) {
	var out api.RetentionPolicy
	err := c.do(ctx, http.MethodPost, policyPath(namespace, "retention"), p, &out)
	return out, err
}

func (c *Berth) DeleteRetentionPolicy(ctx context.Context, namespace, id string) error {
	return c.do(ctx, http.MethodDelete, policyPath(namespace, "retention/"+url.PathEscape(id)), nil, nil)
}

func (c *Berth) RetentionPreview(ctx context.Context, namespace, id string) ([]api.CleanupPlan, error) {
	var l struct {
		Plans []api.CleanupPlan `json:"plans"`
	}
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "retention/"+url.PathEscape(id)+"/preview"), nil, &l)
	return l.Plans, err
}

func (c *Berth) RetentionRuns(ctx context.Context, namespace, id string) ([]api.RetentionRun, error) {
	var l struct {
		Runs []api.RetentionRun `json:"runs"`
	}
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "retention/"+url.PathEscape(id)+"/runs"), nil, &l)
	return l.Runs, err
}
