package ui

// A prerendered repository page carries its newest tags only (firstRows); the others come
// after in rows (api.TagRowsType), which wasm decodes far faster than JSON.

import (
	"context"
	"slices"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// loadRest fetches every tag, in rows, for a page that came with its first rows only; they
// replace the first rows in one render. On a failure the page loads as if it had come
// without data (names first, then details).
func (p *repositoryPage) loadRest(ctx app.Context) { p.fetchAll(ctx, true) }

// fetchAll reads every tag again and shows them in one render, the page as it is meanwhile;
// with fallback, a failure loads the page anew, otherwise it leaves the page as it is.
func (p *repositoryPage) fetchAll(ctx app.Context, fallback bool) {
	gen, name := p.gen, p.name
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		page, err := apiClient().AllTags(c, name)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				if fallback {
					p.load(ctx)
				} else {
					p.retryChanges(ctx) // keeps following the repository
				}
				return
			}
			was := make(map[string]string, len(p.selected))
			for _, t := range p.tags {
				if p.selected[t.Name] {
					was[t.Name] = t.Digest
				}
			}
			p.receiveAll(page)
			p.keepTicks(was)
			p.retryFailed(ctx, 0, len(p.tags))
			p.loadUsage(ctx)
			p.loadSeverities(ctx)
			if fallback {
				p.loadUntagged(ctx) // the page's first read of the rest (see OnNav)
			}
			p.followIndex(ctx)
			p.followChanges(ctx)
		})
	})
}

// followTagsEvery is how often an open repository page reads its tags again while Berth
// fills its index for the first time: longer than the catalog's (followEvery), as a read
// carries every tag.
const followTagsEvery = 5 * time.Second

// followIndex reads every tag again after followTagsEvery while the last answer said Berth
// fills its index for the first time, so an open page follows the index (counts, rows and
// the progress) and drops the note by itself. It stops with an answer without indexing, a
// new load, or the page going away.
func (p *repositoryPage) followIndex(ctx app.Context) {
	if app.IsServer || p.indexing == nil || p.following {
		return
	}
	p.following = true
	gen := p.gen
	ctx.After(followTagsEvery, func(ctx app.Context) {
		p.following = false
		if gen == p.gen && p.indexing != nil && p.state == loaded {
			p.fetchAll(ctx, false)
		}
	})
}

// indexingNote says that Berth is still filling its index, and how far it has come.
func (p *repositoryPage) indexingNote() app.UI {
	return app.P().Class("hint").ID("index-progress").Role("status").Text("Berth is still indexing this registry (" + indexingText(p.indexing) +
		"): details not indexed yet are read from the registry, and this list is read again until indexing ends.")
}

// receiveFirst shows the first tags of a repository, newest first, the others to come.
func (p *repositoryPage) receiveFirst(page api.TagPage) {
	p.receiveAll(page)
	p.more = max(0, page.Total-len(page.Tags))
}

// forgetRepositoryState drops what belongs to the repository shown before: until this
// repository's answers arrive, no untagged row (with its delete button) nor label match of
// another repository may show.
func (p *repositoryPage) forgetRepositoryState() {
	p.untagged, p.untaggedErr, p.untaggedNote = nil, "", ""
	p.labelFor, p.labeled, p.labelErr = "", nil, ""
	// Ticked tags belong to the list they were ticked in: another repository's (or, after a
	// delete, the old list's) must not stay ticked under the same names.
	p.selected = nil
	p.changes.stop() // the wait of the load before
}

// receiveNames shows the tag names, their details pending.
func (p *repositoryPage) receiveNames(page api.TagPage) {
	p.tags, p.pullHost, p.state, p.usage, p.more = page.Tags, page.PullHost, loaded, nil, 0
	p.indexing = page.Indexing
	p.pending = make(map[int]bool, len(p.tags))
	p.attempts = map[string]int{}
	for i := range p.tags {
		p.pending[i] = true
	}
	p.next, p.inFlight = 0, 0
	p.tagsChanged()
}

// keepTicks keeps ticked only the tags that still point where they did when ticked (was:
// name → digest): a tag moved or gone since is not deleted on a tick given to another image.
func (p *repositoryPage) keepTicks(was map[string]string) {
	if len(was) == 0 {
		return
	}
	now := make(map[string]string, len(p.tags))
	for _, t := range p.tags {
		now[t.Name] = t.Digest
	}
	for name, digest := range was {
		if d, ok := now[name]; !ok || d != digest {
			delete(p.selected, name)
		}
	}
}

// filterOptions returns the kinds and platforms the repository's tags have, for the filters.
func (p *repositoryPage) filterOptions() (kinds, platforms []string) {
	for _, t := range p.tags {
		if t.Kind != "" && !slices.Contains(kinds, t.Kind) && !api.IsReferrerTag(t.Name) {
			kinds = append(kinds, t.Kind)
		}
		for _, pl := range t.Platforms {
			if s := pl.String(); !slices.Contains(platforms, s) {
				platforms = append(platforms, s)
			}
		}
	}
	slices.Sort(kinds)
	slices.Sort(platforms)
	return kinds, platforms
}
