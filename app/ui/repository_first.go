package ui

// A prerendered repository page carries its newest tags only (firstRows); the others come
// after in rows (api.TagRowsType), which wasm decodes far faster than JSON.

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// loadRest fetches every tag, in rows, for a page that came with its first rows only; they
// replace the first rows in one render. On a failure the page loads as if it had come
// without data (names first, then details).
func (p *repositoryPage) loadRest(ctx app.Context) {
	gen, name := p.gen, p.name
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		page, err := apiClient().AllTags(c, name)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.load(ctx)
				return
			}
			p.receiveAll(page)
			p.retryFailed(ctx, 0, len(p.tags))
			p.loadUsage(ctx)
			p.loadSeverities(ctx)
		})
	})
}

// receiveFirst shows the first tags of a repository, newest first, the others to come.
func (p *repositoryPage) receiveFirst(page api.TagPage) {
	p.receiveAll(page)
	p.more = max(0, page.Total-len(page.Tags))
}
