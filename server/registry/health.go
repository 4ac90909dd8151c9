package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
)

// Ping asks the registry's /v2/ whether it answers at all: any answer below 500 counts (a
// 401 means it is there and wants credentials).
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.addr.String()+"/v2/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.transport.RoundTrip(req)
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
