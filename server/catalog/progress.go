package catalog

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// progressFresh is how long a read of the index's progress is reused: every open catalog
// page asks for it while the index fills.
const progressFresh = 500 * time.Millisecond

// progressCache reads the walk's progress at most every progressFresh.
type progressCache struct {
	read func(ctx context.Context) (api.IndexProgress, error)

	mu sync.Mutex
	p  api.IndexProgress
	at time.Time
}

func (c *progressCache) get(ctx context.Context) api.IndexProgress {
	if c.read == nil {
		return api.IndexProgress{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < progressFresh {
		return c.p
	}
	p, err := c.read(ctx)
	if err != nil {
		// The progress is a courtesy: a database that fails here fails the page's own read.
		slog.Debug("index: read progress", "err", err)
	}
	c.p, c.at = p, time.Now()
	return p
}

// IndexProgress is how far the walk filling the index has come. Its counts are the whole
// registry's, so a caller who may not see every repository gets only whether a walk runs
// and its phase.
func (s *Service) IndexProgress(ctx context.Context) api.IndexProgress {
	p := s.progress.get(ctx)
	if all, err := s.authz.Everything(ctx); err != nil || !all {
		p = api.IndexProgress{Running: p.Running, First: p.First, Phase: p.Phase, Started: p.Started, Updated: p.Updated, Finished: p.Finished}
	}
	return p
}

// ServeIndexProgress answers GET /api/v1/index: api.IndexProgress.
func (s *Service) ServeIndexProgress(w http.ResponseWriter, r *http.Request) {
	respond(w, r, s.IndexProgress(r.Context()), nil)
}

// labelPartial marks a catalog page read while the index is filled for the first time.
func (s *Service) labelPartial(ctx context.Context, page *api.RepositoryPage) {
	if p := s.IndexProgress(ctx); p.Running && p.First {
		page.Indexing = &p
		page.Partial = true
	}
}

// labelTags marks a tag page read while the index is filled for the first time.
func (s *Service) labelTags(ctx context.Context, page *api.TagPage) {
	if p := s.IndexProgress(ctx); p.Running && p.First {
		page.Indexing = &p
	}
}

// open tells the walk filling the index that a caller reads repository.
func (s *Service) open(repository string) {
	if s.opened != nil {
		s.opened(repository)
	}
}
