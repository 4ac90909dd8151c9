package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/app/api"
)

func (c *Berth) ChartVersions(ctx context.Context, repository string) (api.ChartVersions, error) {
	var v api.ChartVersions
	err := c.do(ctx, http.MethodGet, "/api/v1/charts/"+escapePath(repository)+"/versions", nil, &v)
	return v, err
}

func (c *Berth) Chart(ctx context.Context, repository, version string) (api.Chart, error) {
	var ch api.Chart
	err := c.do(ctx, http.MethodGet, "/api/v1/charts/"+escapePath(repository)+"/versions/"+url.PathEscape(version), nil, &ch)
	return ch, err
}

func (c *Direct) ChartVersions(context.Context, string) (api.ChartVersions, error) {
	return api.ChartVersions{}, errDirect("Chart pages")
}

func (c *Direct) Chart(context.Context, string, string) (api.Chart, error) {
	return api.Chart{}, errDirect("Chart pages")
}
