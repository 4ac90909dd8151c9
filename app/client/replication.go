package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/app/api"
)

// Replication is the administrators' part of /api/v1 for registry endpoints and replication
// rules. Only Berth has it; nothing of it is kept for offline use.
type Replication interface {
	RegistryEndpoints(ctx context.Context) ([]api.RegistryEndpoint, error)
	AddRegistryEndpoint(ctx context.Context, e api.RegistryEndpoint) (api.RegistryEndpoint, error)
	RemoveRegistryEndpoint(ctx context.Context, name string) error
	TestRegistryEndpoint(ctx context.Context, name string) (api.EndpointTest, error)

	ReplicationRules(ctx context.Context) ([]api.ReplicationRule, error)
	CreateReplicationRule(ctx context.Context, r api.ReplicationRule) (api.ReplicationRule, error)
	UpdateReplicationRule(ctx context.Context, id string, r api.ReplicationRule) (api.ReplicationRule, error)
	DeleteReplicationRule(ctx context.Context, id string) error
	RunReplication(ctx context.Context, id string, dryRun bool) (api.ReplicationRun, error)
	ReplicationRuns(ctx context.Context, id string) ([]api.ReplicationRun, error)
}

var _ Replication = (*Berth)(nil)

func (c *Berth) RegistryEndpoints(ctx context.Context) ([]api.RegistryEndpoint, error) {
	var out []api.RegistryEndpoint
	err := c.do(ctx, http.MethodGet, "/api/v1/registries", nil, &out)
	return out, err
}

func (c *Berth) AddRegistryEndpoint(ctx context.Context, e api.RegistryEndpoint) (api.RegistryEndpoint, error) {
	var out api.RegistryEndpoint
	err := c.do(ctx, http.MethodPost, "/api/v1/registries", e, &out)
	return out, err
}

func (c *Berth) RemoveRegistryEndpoint(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/registries/"+url.PathEscape(name), nil, nil)
}

func (c *Berth) TestRegistryEndpoint(ctx context.Context, name string) (api.EndpointTest, error) {
	var out api.EndpointTest
	err := c.do(ctx, http.MethodPost, "/api/v1/registries/"+url.PathEscape(name)+"/test", nil, &out)
	return out, err
}

func (c *Berth) ReplicationRules(ctx context.Context) ([]api.ReplicationRule, error) {
	var out []api.ReplicationRule
	err := c.do(ctx, http.MethodGet, "/api/v1/replications", nil, &out)
	return out, err
}

func (c *Berth) CreateReplicationRule(ctx context.Context, r api.ReplicationRule) (api.ReplicationRule, error) {
	var out api.ReplicationRule
	err := c.do(ctx, http.MethodPost, "/api/v1/replications", r, &out)
	return out, err
}

func (c *Berth) DeleteReplicationRule(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/replications/"+url.PathEscape(id), nil, nil)
}

func (c *Berth) RunReplication(ctx context.Context, id string, dryRun bool) (api.ReplicationRun, error) {
	var out api.ReplicationRun
	path := "/api/v1/replications/" + url.PathEscape(id) + "/run"
	if dryRun {
		path += "?dry_run=1"
	}
	err := c.do(ctx, http.MethodPost, path, nil, &out)
	return out, err
}

func (c *Berth) ReplicationRuns(ctx context.Context, id string) ([]api.ReplicationRun, error) {
	var out []api.ReplicationRun
	err := c.do(ctx, http.MethodGet, "/api/v1/replications/"+url.PathEscape(id)+"/runs", nil, &out)
	return out, err
}

func (c *Berth) UpdateReplicationRule(ctx context.Context, id string, r api.ReplicationRule) (api.ReplicationRule, error) {
	var out api.ReplicationRule
	err := c.do(ctx, http.MethodPut, "/api/v1/replications/"+url.PathEscape(id), r, &out)
	return out, err
}
