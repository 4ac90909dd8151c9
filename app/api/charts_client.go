package api

import (
	"context"
	"net/http"
	"net/url"
)

// ChartVersions lists a repository's chart versions, newest first.
func (c Client) ChartVersions(ctx context.Context, repository string) (ChartVersions, error) {
	if c.Direct {
		return ChartVersions{}, &Error{Status: http.StatusNotImplemented, Code: string(CodeDirectMode), Message: "Chart pages need a Berth server; this UI reads the registry directly."}
	}
	var v ChartVersions
	err := c.get(ctx, "/api/v1/charts/"+escapePath(repository)+"/versions", &v)
	return v, err
}

// Chart returns one chart version in depth.
func (c Client) Chart(ctx context.Context, repository, version string) (Chart, error) {
	if c.Direct {
		return Chart{}, &Error{Status: http.StatusNotImplemented, Code: string(CodeDirectMode), Message: "Chart pages need a Berth server; this UI reads the registry directly."}
	}
	var ch Chart
	err := c.get(ctx, "/api/v1/charts/"+escapePath(repository)+"/versions/"+url.PathEscape(version), &ch)
	return ch, err
}
