package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/app/api"
)

// Scanner asks Berth for its own scans of images; Direct has none (it reads a registry).
type Scanner interface {
	// StartScan queues a scan of repository's reference (a tag or digest).
	StartScan(ctx context.Context, repository, reference string) (api.ScanReport, error)
	// ScanReport returns Berth's report of a manifest digest.
	ScanReport(ctx context.Context, repository, digest string) (api.ScanReport, error)
}

var _ Scanner = (*Berth)(nil)

func (c *Berth) StartScan(ctx context.Context, repository, reference string) (api.ScanReport, error) {
	var out api.ScanReport
	err := c.do(ctx, http.MethodPost, "/api/v1/scans", api.ScanRequest{Repository: repository, Reference: reference}, &out)
	return out, err
}

func (c *Berth) ScanReport(ctx context.Context, repository, digest string) (api.ScanReport, error) {
	var out api.ScanReport
	err := c.do(ctx, http.MethodGet, "/api/v1/scans/"+url.PathEscape(digest)+"?"+url.Values{"repository": {repository}}.Encode(), nil, &out)
	return out, err
}
