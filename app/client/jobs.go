package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/app/api"
)

func (c *Berth) StartJob(ctx context.Context, req api.JobRequest) (string, error) {
	var s api.JobStarted
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs", req, &s)
	return s.ID, err
}

func (c *Berth) PreviewCleanup(ctx context.Context, rule api.CleanupRule) (api.CleanupPlan, error) {
	var p api.CleanupPlan
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs", api.JobRequest{Kind: api.JobCleanup, Rule: &rule, DryRun: true}, &p)
	return p, err
}

func (c *Berth) Job(ctx context.Context, id string) (api.Job, error) {
	var j api.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

func (c *Berth) Jobs(ctx context.Context) (api.JobList, error) {
	var l api.JobList
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs", nil, &l)
	return l, err
}

func (c *Berth) CancelJob(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/jobs/"+url.PathEscape(id), nil, &api.Job{})
}

func (c *Berth) FollowJob(ctx context.Context, id string, fn func(api.JobEvent)) (api.JobEvent, error) {
	header := map[string]string{"Accept": "application/x-ndjson"}
	if token := bearerToken(); token != "" {
		header["Authorization"] = "Bearer " + token
	}
	resp, err := send(ctx, request{method: http.MethodGet, url: c.Base + "/api/v1/jobs/" + url.PathEscape(id) + "/events", header: header})
	if err != nil {
		return api.JobEvent{}, fmt.Errorf("job %s events: %w", id, err)
	}
	defer resp.body.Close()
	if resp.status != http.StatusOK {
		return api.JobEvent{}, &api.Error{Status: resp.status, Code: api.CodeForStatus(resp.status), Message: fmt.Sprintf("The server answered %s.", resp.Status())}
	}
	last, err := api.ReadJobEvents(resp.body, fn)
	if err != nil {
		return last, fmt.Errorf("job %s events: %w", id, err)
	}
	return last, nil
}
