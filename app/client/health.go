package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/berth-registry/berth/app/api"
)

// Dependencies asks Berth's /healthz/deps how the registry, the database and the cache are
// doing, and records the answer in the connectivity signal.
func (c *Berth) Dependencies(ctx context.Context) (api.Dependencies, error) {
	var d api.Dependencies
	resp, err := send(ctx, request{method: http.MethodGet, url: c.Base + "/healthz/deps", header: map[string]string{"Accept": "application/json"}})
	if err != nil {
		return d, &api.Error{Code: api.CodeOffline, Message: "Cannot reach the Berth server."}
	}
	defer resp.body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.body, 64<<10))
	if err != nil || resp.status != http.StatusOK || json.Unmarshal(data, &d) != nil {
		return d, &api.Error{Status: resp.status, Code: api.CodeBadResponse, Message: "The server's health report cannot be read."}
	}
	setDependencies(d.Registry.Down(), d.Store.Down())
	return d, nil
}

// Dependencies of a registry read directly are the registry alone, which Reachable checks.
func (c *Direct) Dependencies(context.Context) (api.Dependencies, error) {
	return api.Dependencies{Status: api.DependencyOK}, nil
}

// noteError takes in what an error answer says of Berth's dependencies: a registry or a
// database Berth cannot reach shows in the banner at once, not at the next health poll.
func noteError(code api.Code) {
	switch code {
	case api.CodeRegistryUnavailable:
		update(func(next *Connectivity) { next.RegistryDown = true })
	case api.CodeStoreUnavailable:
		update(func(next *Connectivity) { next.StoreDown = true })
	}
}
