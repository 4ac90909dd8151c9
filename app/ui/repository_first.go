package ui

// A prerendered repository page carries its newest tags only (firstRows); the others come
// after in rows (api.TagRowsType), which wasm decodes far faster than JSON. A repository the
// index cannot order yet (never read before) comes with its names only: the rows in view get
// their details first, then every tag arrives in one answer.

import (
	"context"
	"slices"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
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
				switch {
				case fallback && p.namesOnly:
					// Every tag in one answer failed (a huge repository never read past
					// the client's patience): the rest chunk by chunk, keeping what came.
					p.chunkDetails()
					p.fill(ctx)
				case fallback:
					p.load(ctx)
				default:
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
	p.indexing, p.changes.token = page.Indexing, page.Changes
	p.list++
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

// maxSeededNames is how many tag names a prerendered page carries at most (≈ 25 bytes each):
// beyond, the page goes out without them and the app asks.
const maxSeededNames = 20_000

// viewFirstAfter is how long a page that asked for every tag waits for them before it asks
// for the details of the rows in view by themselves: an indexed repository answers sooner,
// so only a repository read from the registry pays for the extra request.
const viewFirstAfter = 300 * time.Millisecond

// prerenderNames puts a repository's tag names into the page being prerendered, their
// details pending, when the index cannot order its tags yet: the rows show with the page,
// and the browser asks for the rows in view and for every tag while app.wasm loads (the
// server starts reading them from the registry at once). It reports whether it did.
func (p *repositoryPage) prerenderNames(c context.Context, src Source, s *seed, name string) bool {
	page, err := src.TagNames(c, name)
	if err != nil || len(page.Tags) > maxSeededNames || s.put(client.TagNamesPath(name), page) != nil {
		return false
	}
	p.name, p.seed = name, s
	p.receiveNamesOnly(page)
	if lo, hi, ok := p.viewRange(0, firstRows); ok {
		s.Prefetch = append(s.Prefetch, prefetch{Path: client.TagsPath(name, lo, hi-lo), Accept: "application/json"})
	}
	return true
}

// receiveNamesOnly shows the tag names of a page that came without details.
func (p *repositoryPage) receiveNamesOnly(page api.TagPage) {
	p.defaultSort()
	p.receiveNames(page)
	p.streamDetails()
}

// streamDetails says that every tag's details come in one answer (loadRest, load): no
// chunk is asked for besides the rows in view (firstDetails, detailsInView) and retries.
// Until it arrives the rows keep their order by name, filling in where they are (newest
// first needs every date), and the page is sorted as chosen once it is in (receiveAll).
func (p *repositoryPage) streamDetails() {
	p.namesOnly, p.next = true, len(p.tags)
	p.refresh()
}

// chunkDetails has the details asked for chunk by chunk (fill) instead of in one answer:
// the rows keep filling in where they are, and are sorted as chosen once all are in (filled).
func (p *repositoryPage) chunkDetails() { p.next = 0 }

// filled runs once every tag has its details from chunks: a names-only page is sorted as
// chosen and asks for what it waited with, and the storage use is asked for.
func (p *repositoryPage) filled(ctx app.Context) {
	if p.namesOnly {
		p.namesOnly = false
		p.refresh()
		p.loadSeverities(ctx)
	}
	if p.usage == nil {
		p.loadUsage(ctx)
	}
}

// firstDetails asks for the details of the rows in view (and the next screens) by
// themselves, while every tag is read: they show in a fraction of the time.
func (p *repositoryPage) firstDetails(ctx app.Context) {
	if lo, hi, ok := p.viewRange(0, firstRows); ok {
		p.details(ctx, lo, hi-lo)
	}
}

// detailsInView asks for the details of the rows scrolled into view while every tag's
// answer is on its way (a large repository never read before takes a while), one request
// at a time: the rows the user looks at fill in first.
func (p *repositoryPage) detailsInView(ctx app.Context) {
	if p.inFlight > 0 || len(p.pending) == 0 || p.next < len(p.tags) {
		return // a request is out, nothing is pending, or chunks are asked for in turn (fill)
	}
	first, last := p.win.span(len(p.view))
	if lo, hi, ok := p.viewRange(first, last); ok {
		p.details(ctx, lo, hi-lo)
	}
}

// viewRange is the range of tags, in name order, holding the view's rows from to to (at
// most firstRows): rows without details sort by name, so they lie together. ok is false
// when they do not (filtered), or when none of them waits for details (a failed row waits
// for its retry, retryFailed).
func (p *repositoryPage) viewRange(from, to int) (lo, hi int, ok bool) {
	rows := p.view[min(from, len(p.view)):min(to, from+firstRows, len(p.view))]
	lo, hi = len(p.tags), 0
	pending := false
	for _, i := range rows {
		lo, hi = min(lo, i), max(hi, i+1)
		pending = pending || p.pending[i] && p.tags[i].Error == ""
	}
	return lo, hi, pending && hi-lo <= 2*firstRows
}
