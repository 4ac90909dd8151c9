package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/app/api"
)

func (c *Berth) Events(ctx context.Context, q api.EventQuery) (api.EventPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("repository", q.Repository)
	set("action", q.Action)
	set("actor", q.Actor)
	set("since", q.Since)
	set("before", q.Before)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.All {
		v.Set("kind", "all")
	}
	var p api.EventPage
	err := c.do(ctx, http.MethodGet, "/api/v1/events?"+v.Encode(), nil, &p)
	return p, err
}

func (c *Berth) RepositoryStats(ctx context.Context, repository, rng string) (api.RepositoryStats, error) {
	var s api.RepositoryStats
	err := c.do(ctx, http.MethodGet, RepositoryStatsPath(repository, rng), nil, &s)
	return s, err
}

// RepositoryStatsPath is the /api/v1 path of a repository's pushes and pulls over rng.
func RepositoryStatsPath(repository, rng string) string {
	return "/api/v1/stats/" + escapePath(repository) + "?range=" + url.QueryEscape(rng)
}

func (c *Berth) Stats(ctx context.Context, rng string) (api.Stats, error) {
	var s api.Stats
	err := c.do(ctx, http.MethodGet, "/api/v1/stats?range="+url.QueryEscape(rng), nil, &s)
	return s, err
}
