package ui

// A repository page's tag details, asked for chunk by chunk where they do not come in one
// answer (direct mode, the rows in view first, retries).

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// fill keeps up to detailsInFlight detail requests running until every tag has details.
func (p *repositoryPage) fill(ctx app.Context) {
	for p.inFlight < detailsInFlight && p.next < len(p.tags) {
		if p.waiting(p.next, detailChunk) { // not those that came already (the rows in view)
			p.details(ctx, p.next, detailChunk)
		}
		p.next += detailChunk
	}
}

// details fetches the details of limit tags from offset and merges them into the table.
func (p *repositoryPage) details(ctx app.Context, offset, limit int) {
	ctx = p.home.of(ctx) // a retry button that started it is gone by the time the answer comes
	p.inFlight++
	gen, list, name := p.gen, p.list, p.name
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		page, err := apiClient().Tags(c, name, offset, limit)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen || list != p.list {
				return // another load, or every tag arrived meanwhile (receiveAll)
			}
			p.inFlight--
			p.merge(offset, limit, page, err)
			p.retryFailed(ctx, offset, limit)
			p.tagsChanged()
			p.fill(ctx)
			if err == nil {
				p.detailsInView(ctx) // scrolled meanwhile; a failure waits for its retries
			}
			if !p.namesOnly {
				p.loadSeverities(ctx) // else once every tag is in: that answer has the server first
			}
			if len(p.pending) == 0 && p.inFlight == 0 {
				p.filled(ctx) // repository_first.go
			}
		})
	})
}

// waiting reports whether a tag from offset still waits for its details.
func (p *repositoryPage) waiting(offset, limit int) bool {
	for i := offset; i < min(offset+limit, len(p.tags)); i++ {
		if p.pending[i] {
			return true
		}
	}
	return false
}

// merge puts the details of the tags from offset into the table, by name: a row the answer
// lacks (the tag list changed since the names were read) gets an error, never stays blank.
func (p *repositoryPage) merge(offset, limit int, page api.TagPage, err error) {
	got := make(map[string]api.Tag, len(page.Tags))
	for _, t := range page.Tags {
		got[t.Name] = t
	}
	for i := offset; i < min(offset+limit, len(p.tags)); i++ {
		delete(p.pending, i)
		t, ok := got[p.tags[i].Name]
		switch {
		case err != nil:
			p.tags[i].Error = err.Error()
		case ok:
			p.tags[i] = t
		default:
			p.tags[i].Error = "This tag was not in the registry's answer: the tag list changed. Reload the page to see it as it is."
		}
	}
}

// loadUsage asks what the repository stores, counting shared layers once; by now the server
// has every tag's manifests cached, so it costs little.
func (p *repositoryPage) loadUsage(ctx app.Context) {
	ctx = p.home.of(ctx)
	gen, name := p.gen, p.name
	p.usage = &api.Usage{} // requested; filled in when the answer comes
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		u, err := apiClient().Usage(c, name, "")
		if err != nil {
			return
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen == p.gen {
				p.usage = &u
			}
		})
	})
}

// autoRetries is how many times a tag whose details failed (registry 429, 5xx, timeout) is
// asked for again by itself, waiting twice as long each time, before the row offers a button.
const autoRetries = 3

// retryFailed schedules, with backoff, another try for each failed tag in the range.
func (p *repositoryPage) retryFailed(ctx app.Context, offset, limit int) {
	for i := offset; i < min(offset+limit, len(p.tags)); i++ {
		n := p.attempts[p.tags[i].Name]
		if p.tags[i].Error == "" || n >= autoRetries {
			continue
		}
		p.attempts[p.tags[i].Name] = n + 1
		p.pending[i] = true
		gen, at := p.gen, i
		ctx.After(time.Second<<n, func(ctx app.Context) {
			if gen == p.gen && at < len(p.tags) {
				p.tags[at].Error = ""
				p.details(ctx, at, 1)
			}
		})
	}
}

// retry fetches one tag's details again, after a per-row error.
func (p *repositoryPage) retry(i int) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		p.tags[i].Error = ""
		p.pending[i] = true
		p.details(ctx, i, 1)
	}
}
