package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// StartJob starts a job with an idempotency key, so that it can retry a start that failed
// to connect or found Berth unavailable (a replica failing over) without starting it twice.
func (c *Berth) StartJob(ctx context.Context, req api.JobRequest) (string, error) {
	header := map[string]string{"Idempotency-Key": newKey()}
	var err error
	for wait := startRetry; ; wait *= 2 {
		var s api.JobStarted
		err = c.doWith(ctx, http.MethodPost, "/api/v1/jobs", header, req, &s)
		if !retryable(err) || wait > maxStartRetry {
			return s.ID, err
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(wait):
		}
	}
}

// The waits between tries of a job start: 0.5, 1, 2 and 4 s.
const (
	startRetry    = 500 * time.Millisecond
	maxStartRetry = 4 * time.Second
)

// retryable reports whether a request may be sent again: it did not reach Berth, or Berth
// (or the gateway before it) answered 503.
func retryable(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && (e.Code == api.CodeOffline || e.Status == http.StatusServiceUnavailable)
}

// newKey returns a random idempotency key.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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

func (c *Berth) Jobs(ctx context.Context, q api.JobQuery) (api.JobList, error) {
	var l api.JobList
	err := c.do(ctx, http.MethodGet, JobsPath(q), nil, &l)
	return l, err
}

// JobsPath is the API path of the job list q selects.
func JobsPath(q api.JobQuery) string {
	if v := q.Values().Encode(); v != "" {
		return "/api/v1/jobs?" + v
	}
	return "/api/v1/jobs"
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

// WaitChanges asks past the offline store (a wait is not an answer to keep or replay): a
// failure is the caller's to retry later.
func (c *Berth) WaitChanges(ctx context.Context, repository, since string) (api.RepositoryChanges, error) {
	path, err := c.scoped(http.MethodGet, "/api/v1/repositories/"+escapePath(repository)+"/changes?since="+url.QueryEscape(since))
	if err != nil {
		return api.RepositoryChanges{}, err
	}
	header := map[string]string{"Accept": "application/json"}
	if token := bearerToken(); token != "" {
		header["Authorization"] = "Bearer " + token
	}
	resp, err := send(ctx, request{method: http.MethodGet, url: c.Base + path, header: header})
	if err != nil {
		return api.RepositoryChanges{}, err
	}
	defer resp.body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.body, 64<<10))
	if err != nil {
		return api.RepositoryChanges{}, err
	}
	if resp.status != http.StatusOK {
		return api.RepositoryChanges{}, &api.Error{Status: resp.status, Code: api.CodeForStatus(resp.status), Message: fmt.Sprintf("The server answered %s.", resp.Status())}
	}
	var out api.RepositoryChanges
	if err := json.Unmarshal(data, &out); err != nil {
		return api.RepositoryChanges{}, err
	}
	return out, nil
}
