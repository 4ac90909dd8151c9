package ui

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

const (
	catalogPageSize = 200
	searchDebounce  = 250 * time.Millisecond
	repoRowHeight   = 42
)

// catalogPage lists the registry's repositories with a server-side filter. The list is
// virtual: only the rows in view are in the DOM, and pages of names are fetched as they
// scroll into view, so a catalog of 100,000 repositories never downloads whole. Its state
// changes only in Dispatch callbacks and event handlers; Render reads it.
type catalogPage struct {
	app.Compo

	user string // signed-in user, observed to reload after a sign-in

	query   string
	state   loadState
	err     error
	names   []string     // by position in the filtered catalog; "" until its page arrives
	pages   map[int]bool // pages requested so far
	total   int
	updated time.Time
	win     window
	focus   rowFocus // the repository holding focus, kept when the window moves
	// gen numbers list generations, so that an answer to an older query never lands in a
	// newer list.
	gen int

	seed   *seed // on the server: the first page, written into the prerendered page
	seeded bool  // in the browser: the first page came with the page, not to be fetched
}

// OnPreRender reads the first page of the catalog on the server, so that the page arrives
// with its rows and count.
func (p *catalogPage) OnPreRender(ctx app.Context) {
	ctx.Page().SetTitle("Repositories · Berth")
	src, c, cancel, ok := prerendering(ctx)
	if !ok {
		return
	}
	defer cancel()
	query := ctx.Page().URL().Query().Get("q")
	res, err := src.Repositories(c, query, 0, catalogPageSize)
	s := newSeed(ctx.Page().URL())
	if err != nil || s.put(client.RepositoriesPath(query, 0, catalogPageSize), res) != nil {
		return // the browser loads it
	}
	p.query, p.seed = query, s
	p.reset()
	p.receive(0, res)
}

// OnInit takes over the first page the server put into the page, before the first render,
// so the rows the server rendered stay.
func (p *catalogPage) OnInit() {
	s := takeSeed()
	if s == nil {
		return
	}
	query := app.Window().URL().Query().Get("q")
	var res api.RepositoryPage
	if !s.get(client.RepositoriesPath(query, 0, catalogPageSize), &res) {
		return
	}
	p.query, p.seeded = query, true
	p.reset()
	p.receive(0, res)
}

func (p *catalogPage) OnMount(ctx app.Context) {
	p.focus.listen("#repositories", "repo")
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
}

func (p *catalogPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Repositories · Berth")
	p.query = ctx.Page().URL().Query().Get("q")
	if p.seeded {
		p.seeded = false // later navigations load
	} else {
		p.load(ctx)
	}
	focusFilter(ctx, "repo-filter")
}

// OnDismount stops following focus.
func (p *catalogPage) OnDismount() { p.focus.stop() }

// load starts the list over for the current query.
func (p *catalogPage) load(ctx app.Context) {
	p.reset()
	p.fetch(ctx, 0)
}

// reset empties the list for a new query.
func (p *catalogPage) reset() {
	p.gen++
	p.state, p.err, p.pages, p.names = loading, nil, map[int]bool{}, nil
	p.win.rowHeight = repoRowHeight
	p.win.reset()
}

// fetch requests one page of names, unless it was requested already.
func (p *catalogPage) fetch(ctx app.Context, page int) {
	if p.pages[page] {
		return
	}
	p.pages[page] = true
	gen, query := p.gen, p.query
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := apiClient().Repositories(c, query, page*catalogPageSize, catalogPageSize)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				if p.state == loading {
					p.state, p.err = failed, err
				} else {
					delete(p.pages, page) // scrolling there again retries
				}
				return
			}
			p.receive(page, res)
		})
	})
}

// receive places a page of the catalog into the list.
func (p *catalogPage) receive(page int, res api.RepositoryPage) {
	p.pages[page] = true
	if p.state == loading || len(p.names) != res.Total {
		// First page, or the catalog changed size under us: size the list anew.
		old := p.names
		p.names = make([]string, res.Total)
		copy(p.names, old)
	}
	for i, r := range res.Repositories {
		if at := page*catalogPageSize + i; at < len(p.names) {
			p.names[at] = r.Name
		}
	}
	p.total, p.updated, p.state = res.Total, res.Updated, loaded
}

// onScroll moves the window and fetches the pages that came into view.
func (p *catalogPage) onScroll(ctx app.Context, e app.Event) {
	p.win.onScroll(ctx, e)
	ctx.Defer(func(ctx app.Context) { p.focus.restore() })
	first, last := p.win.span(len(p.names))
	for page := first / catalogPageSize; page*catalogPageSize < last; page++ {
		p.fetch(ctx, page)
	}
}

func (p *catalogPage) onSearch(ctx app.Context, e app.Event) {
	p.ValueTo(&p.query)(ctx, e)
	p.gen++
	gen := p.gen
	u := *ctx.Page().URL()
	q := u.Query()
	if p.query == "" {
		q.Del("q")
	} else {
		q.Set("q", p.query)
	}
	u.RawQuery = q.Encode()
	ctx.Page().ReplaceURL(&u)
	ctx.After(searchDebounce, func(ctx app.Context) {
		if gen == p.gen {
			p.load(ctx)
		}
	})
}

func (p *catalogPage) Render() app.UI {
	return page(nil,
		app.Div().Class("page-head").Body(
			app.H1().Text("Repositories"),
			app.If(p.state == loaded, func() app.UI {
				return app.Span().Class("count").Text(countLabel(p.total, p.query))
			}),
		),
		app.Div().Class("toolbar").Body(
			app.Input().
				Type("search").
				Class("search").
				ID("repo-filter").
				Placeholder("Filter repositories…").
				Aria("label", "Filter repositories").
				AutoFocus(true).
				Value(p.query).
				OnInput(p.onSearch).
				OnKeyDown(func(ctx app.Context, e app.Event) { intoList(e, "#repositories a.repo") }),
		),
		p.renderBody(),
		app.If(p.seed != nil, p.seed.script),
	)
}

func (p *catalogPage) renderBody() app.UI {
	switch {
	case p.state == loading:
		return loadingView("repositories")
	case p.state == failed:
		return failure(p.err, p.load)
	case len(p.names) == 0 && p.query != "":
		return emptyView("No repository matches “"+p.query+"”", "Try a shorter filter, or part of a name such as “api”.")
	case len(p.names) == 0:
		return emptyView("This registry has no repositories yet", "Push an image, e.g. crane copy alpine localhost:5000/library/alpine, and it shows up here.")
	}
	first, last := p.win.span(len(p.names))
	rows := make([]app.UI, 0, last-first+2)
	rows = append(rows, p.win.spacer(first))
	for i := first; i < last; i++ {
		if n := p.names[i]; n != "" {
			rows = append(rows, app.A().Class("repo").DataSet("repo", n).Href(repositoryURL(n)).Body(repoName(n)...))
		} else {
			rows = append(rows, app.Div().Class("repo placeholder").Aria("hidden", "true").Text("…"))
		}
	}
	rows = append(rows, p.win.spacer(len(p.names)-last))
	return app.Nav().Class("vlist repo-list").ID("repositories").Aria("label", "Repositories").OnScroll(p.onScroll).Body(rows...)
}
