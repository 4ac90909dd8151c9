package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Ping asks the registry's /v2/ whether it answers at all: any answer below 500 counts (a
// 401 means it is there and wants credentials). With the breaker open it answers at once; its
// own failures do not count towards opening it, since its deadline is a health check's.
func (c *Client) Ping(ctx context.Context) error {
	if since := c.breaker.OpenSince(); !since.IsZero() {
		return c.explain(ErrNotAnswering, "/v2/")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.addr.String()+"/v2/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.breaker.next.RoundTrip(req)
	if err != nil {
		return c.explain(err, "/v2/")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return httperr.New(api.CodeRegistryError, fmt.Sprintf("The registry at %s answered %d.", c.addr.Host, resp.StatusCode))
	}
	return nil
}

// NotAnsweringSince is when the circuit breaker stopped sending requests to the registry,
// which failed to answer; zero while it sends them.
func (c *Client) NotAnsweringSince() time.Time { return c.breaker.OpenSince() }
