package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// followEvery is how often an open catalog reads its pages again while the answer is
// partial (Berth still fills its index from a registry it has never seen).
const followEvery = 2 * time.Second

// follow reads the pages in view again every followEvery while the catalog is partial, so
// an open page follows the index as it fills: its count, its rows and the progress. It
// stops with the first complete answer, a new query, or the page going away.
func (p *catalogPage) follow(ctx app.Context) {
	if app.IsServer || !p.partial || p.following {
		return
	}
	p.following = true
	gen := p.gen
	ctx.After(followEvery, func(ctx app.Context) {
		p.following = false
		if gen != p.gen || !p.partial || p.state != loaded {
			return
		}
		first, last := p.win.span(len(p.repos))
		for page := first / catalogPageSize; page == first/catalogPageSize || page*catalogPageSize < last; page++ {
			delete(p.pages, page)
			p.fetch(ctx, page)
		}
	})
}

// partialNote says that the list is partial and, when the server tells, how far its
// index has come: "Partial list: indexing 1,240 of 3,002 repositories".
func (p *catalogPage) partialNote() app.UI {
	return app.P().Class("hint").ID("index-progress").Role("status").Text("Partial list: " + indexingText(p.indexing))
}

// indexingText says how far the walk filling the index has come, in a few words.
func indexingText(ip *api.IndexProgress) string {
	switch {
	case ip == nil || !ip.Running:
		return "Berth is still reading the registry's catalog."
	case ip.Phase == "tags" && ip.Repositories > 0:
		return "indexing " + thousands(ip.RepositoriesDone) + " of " + thousands(ip.Repositories) + " repositories"
	case ip.Phase == "details":
		return "indexing done, describing images (" + thousands(ip.Manifests) + " so far)"
	case ip.Repositories > 0:
		return "indexing: listing repositories (" + thousands(ip.Repositories) + " so far)"
	default:
		return "indexing the registry"
	}
}
