package client

import (
	"context"
	"net/http"

	"github.com/berth-registry/berth/app/api"
)

// PullPolicies reads and sets a namespace's pull policy (Berth with access control).
type PullPolicies interface {
	PullPolicy(ctx context.Context, namespace string) (api.PullPolicy, error)
	// SetPullPolicy replaces it: administrators only.
	SetPullPolicy(ctx context.Context, namespace string, req api.PullPolicyRequest) (api.PullPolicy, error)
}

func (c *Berth) PullPolicy(ctx context.Context, namespace string) (api.PullPolicy, error) {
	var p api.PullPolicy
	err := c.do(ctx, http.MethodGet, policyPath(namespace, "pull-policy"), nil, &p)
	return p, err
}

func (c *Berth) SetPullPolicy(ctx context.Context, namespace string, req api.PullPolicyRequest) (api.PullPolicy, error) {
	var p api.PullPolicy
	err := c.do(ctx, http.MethodPut, policyPath(namespace, "pull-policy"), req, &p)
	return p, err
}
