package ui

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

const (
	catalogPageSize = 200
	searchDebounce  = 250 * time.Millisecond
	repoRowHeight   = 42
	// repoCardHeight is a repository's card on a phone, with the gap below it (see the
	// catalog's phone block in berth.css).
	repoCardHeight = 96
)

// catalogPage lists the registry's repositories with a server-side filter. The list is
// virtual: only the rows in view are in the DOM, and pages of names are fetched as they
// scroll into view, so a catalog of 100,000 repositories never downloads whole. Its state
// changes only in Dispatch callbacks and event handlers; Render reads it.
type catalogPage struct {
	app.Compo
	home // its own context, for answers to scroll events

	user    string      // signed-in user, observed to reload after a sign-in
	session api.Session // whether access control hides repositories from an anonymous visitor

	filter  catalogFilter
	state   loadState
	err     error
	repos   []api.Repository // by position in the filtered catalog; no name until its page arrives
	pages   map[int]bool     // pages requested so far
	total   int
	updated time.Time
	refused bool // the registry refuses its catalog: the list is what Berth knows of
	seeding bool // Berth is still pushing its demo content: the list is not complete
	// partial is set while the server's answer is partial (its index still fills for the
	// first time), indexing says how far it came; following while a refresh is due
	// (catalog_follow.go).
	partial   bool
	indexing  *api.IndexProgress
	following bool
	goTo      string // the name typed into "Open a repository"
	win       window
	focus     rowFocus // the repository holding focus, kept when the window moves
	// gen numbers list generations, so that an answer to an older query never lands in a
	// newer list.
	gen int

	found api.SearchPage // the tags a digest or label search found (catalog_search.go)

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
	f := parseCatalogFilter(ctx.Page().URL().Query())
	if globalQuery(f.Query) {
		return // a search across repositories: the browser asks for it
	}
	res, err := src.Repositories(c, f.page(0))
	s := newSeed(ctx.Page().URL())
	if err != nil || s.put(client.RepositoriesPath(f.page(0)), res) != nil {
		return // the browser loads it
	}
	sess := src.Session(c)
	p.filter, p.seed, p.session, s.Session = f, s, sess, &sess
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
	f := parseCatalogFilter(app.Window().URL().Query())
	var res api.RepositoryPage
	if !s.get(client.RepositoriesPath(f.page(0)), &res) {
		return
	}
	p.filter, p.seeded = f, true
	if s.Session != nil {
		p.session = *s.Session // until the header's own answer arrives
	}
	p.reset()
	p.receive(0, res)
}

func (p *catalogPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	p.focus.listen("#repositories", "repo")
	ctx.ObserveState(stateSession, &p.session)
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
}

func (p *catalogPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Repositories · Berth")
	p.filter = parseCatalogFilter(ctx.Page().URL().Query())
	if p.seeded {
		p.seeded = false // later navigations load
		if p.seeding {
			p.waitSeeding(ctx)
		} else {
			p.follow(ctx)
		}
	} else {
		p.load(ctx)
	}
	focusFilter(ctx, "repo-filter")
}

// OnDismount stops following focus and the index.
func (p *catalogPage) OnDismount() {
	p.focus.stop()
	p.gen++
}

// load starts the list over for the current query.
func (p *catalogPage) load(ctx app.Context) {
	ctx = p.home.of(ctx)
	if globalQuery(p.filter.Query) && app.Getenv(EnvMode) != ModeDirect {
		p.searchFor(ctx)
		return
	}
	p.reset()
	p.fetch(ctx, 0)
}

// reset empties the list for a new query.
func (p *catalogPage) reset() {
	p.gen++
	p.state, p.err, p.pages, p.repos = loading, nil, map[int]bool{}, nil
	p.win.rowHeight = repoRowHeightFor()
	p.win.reset()
}

// fetch requests one page of names, unless it was requested already.
func (p *catalogPage) fetch(ctx app.Context, page int) {
	if p.pages[page] {
		return
	}
	p.pages[page] = true
	gen, q := p.gen, p.filter.page(page)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := apiClient().Repositories(c, q)
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
			if p.seeding {
				p.waitSeeding(ctx)
			} else {
				p.follow(ctx)
			}
		})
	})
}

// seedingPoll is how often the catalog asks again while the demo content is pushed.
const seedingPoll = time.Second

// waitSeeding loads the list again shortly while the server still pushes its demo content.
func (p *catalogPage) waitSeeding(ctx app.Context) {
	if !p.seeding {
		return
	}
	gen := p.gen
	ctx.After(seedingPoll, func(ctx app.Context) {
		if gen == p.gen {
			p.load(ctx)
		}
	})
}

// receive places a page of the catalog into the list.
func (p *catalogPage) receive(page int, res api.RepositoryPage) {
	p.pages[page] = true
	if p.state == loading || len(p.repos) != res.Total {
		// First page, or the catalog changed size under us: size the list anew.
		old := p.repos
		p.repos = make([]api.Repository, res.Total)
		copy(p.repos, old)
	}
	for i, r := range res.Repositories {
		if at := page*catalogPageSize + i; at < len(p.repos) {
			p.repos[at] = r
		}
	}
	p.total, p.updated, p.state, p.refused, p.seeding = res.Total, res.Updated, loaded, res.CatalogRefused, res.Seeding
	p.partial, p.indexing = res.Partial, res.Indexing
}

// onScroll moves the window and fetches the pages that came into view.
func (p *catalogPage) onScroll(ctx app.Context, e app.Event) {
	p.win.rowHeight = repoRowHeightFor()
	p.win.onScroll(ctx, e)
	ctx.Defer(func(ctx app.Context) { p.focus.restore() })
	first, last := p.win.span(len(p.repos))
	for page := first / catalogPageSize; page*catalogPageSize < last; page++ {
		p.fetch(p.home.of(ctx), page)
	}
}

// OnResize switches the virtual list between rows and phone cards.
func (p *catalogPage) OnResize(ctx app.Context) { p.win.rowHeight = repoRowHeightFor() }

// repoRowHeightFor is the height of one repository in the current layout: a row, or a card
// on a narrow screen.
func repoRowHeightFor() int {
	if app.IsServer {
		return repoRowHeight
	}
	if m := app.Window().Call("matchMedia", "(max-width: 640px)"); m.Truthy() && m.Get("matches").Bool() {
		return repoCardHeight
	}
	return repoRowHeight
}

// onSearch narrows the list as the user types. The address follows without a history entry
// per keystroke.
func (p *catalogPage) onSearch(ctx app.Context, e app.Event) {
	p.ValueTo(&p.filter.Query)(ctx, e)
	p.gen++
	gen := p.gen
	u := *ctx.Page().URL()
	u.RawQuery = p.filter.values().Encode()
	ctx.Page().ReplaceURL(&u)
	ctx = p.home.of(ctx)
	ctx.After(searchDebounce, func(ctx app.Context) {
		if gen == p.gen {
			p.load(ctx)
		}
	})
}

// onChoose applies a kind or an order: a new address, so back and forward step through
// them and a reload keeps them; OnNav loads the list it names.
func (p *catalogPage) onChoose(set func(f *catalogFilter, v string)) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		f := p.filter
		set(&f, ctx.JSSrc().Get("value").String())
		// Parsed back, so the select's names for the defaults leave the address.
		f = parseCatalogFilter(f.values())
		addr := homeURL()
		if q := f.values().Encode(); q != "" {
			addr += "?" + q
		}
		ctx.Navigate(addr)
	}
}

func (p *catalogPage) Render() app.UI {
	return page(nil,
		app.Div().Class("page-head").Body(
			app.H1().Text(catalogTitle()),
			// Always there, so that a screen reader hears the count change with the filter.
			app.Span().Class("count").ID("repo-count").Aria("live", "polite").Text(p.countText()),
		),
		app.Div().Class("toolbar catalog-filters").Body(
			app.Input().
				Type("search").
				Class("search").
				ID("repo-filter").
				Placeholder("Filter repositories, or find sha256:… or label:name=value").
				Aria("label", "Filter repositories").
				AutoFocus(true).
				Value(p.filter.Query).
				OnInput(p.onSearch).
				OnKeyDown(func(ctx app.Context, e app.Event) { intoList(e, "#repositories a.repo") }),
			app.If(app.Getenv(EnvMode) != ModeDirect, p.renderChoices),
		),
		app.If(p.partial && p.state == loaded, p.partialNote),
		app.If(p.refused && p.state == loaded, p.renderRefused),
		app.If(len(p.repos) > 0 && p.anonymousUnderControl(), func() app.UI {
			return p.signInToSee("", "These are the public repositories. Sign in to see the ones shared with you.")
		}),
		p.renderBody(),
		&elsewhere{Query: p.filter.Query}, // registry_search.go
		app.If(p.seed != nil, p.seed.script),
	)
}

func (p *catalogPage) renderBody() app.UI {
	switch {
	case p.seeding && !globalQuery(p.filter.Query):
		return app.Div().Class("state loading").ID("seeding").Role("status").Aria("busy", "true").Body(
			app.Span().Class("spinner").Aria("hidden", "true"),
			app.Span().Text("Seeding demo content… the catalog shows once it is in."),
		)
	case p.state == loading:
		return loadingView("repositories")
	case p.state == failed:
		return failure(p.err, p.load)
	case globalQuery(p.filter.Query) && app.Getenv(EnvMode) != ModeDirect:
		return p.renderFound()
	case len(p.repos) == 0 && p.filter.Query != "":
		return emptyView("No "+kindNoun(p.filter.Kind, 1)+" matches “"+p.filter.Query+"”", "Try a shorter filter, or part of a name such as “api”.")
	case len(p.repos) == 0 && p.refused:
		return emptyView("Berth knows of no repository here yet", "This registry does not list its repositories: open one by name above.")
	case len(p.repos) == 0 && p.filter.Kind != "":
		return emptyView("This registry has no "+kindNoun(p.filter.Kind, 0)+" yet", "Choose “All kinds” to see every repository.")
	case len(p.repos) == 0 && p.anonymousUnderControl():
		return p.signInToSee("Sign in to see repositories", "No repository here is public; the others show once you sign in.")
	case len(p.repos) == 0:
		return emptyView("This registry has no repositories yet", "Push an image to it (docker push, crane copy or skopeo copy) and it shows up here.")
	}
	first, last := p.win.span(len(p.repos))
	rows := make([]app.UI, 0, last-first+3)
	rows = append(rows, p.columnHeads(), p.win.spacer(first))
	now := time.Now()
	for i := first; i < last; i++ {
		if r := p.repos[i]; r.Name != "" {
			rows = append(rows, repoRow(r, now))
		} else {
			rows = append(rows, app.Div().Class("repo placeholder").Aria("hidden", "true").Text("…"))
		}
	}
	rows = append(rows, p.win.spacer(len(p.repos)-last))
	return app.Nav().Class("vlist repo-list").ID("repositories").Aria("label", "Repositories").OnScroll(p.onScroll).Body(rows...)
}

// renderRefused says why the list may be incomplete and opens any repository by name.
func (p *catalogPage) renderRefused() app.UI {
	return app.Section().Class("catalog-refused").ID("catalog-refused").Aria("label", "Open a repository").Body(
		app.P().Class("hint").Text("This registry does not list its repositories (it refuses /v2/_catalog), so the list holds "+
			"those Berth knows of: pushed or reported by the registry, opened by name, or named by the operator (--repositories)."),
		app.Form().Class("goto").OnSubmit(p.onGoTo).Body(
			app.Label().For("repo-goto").Text("Open a repository"),
			app.Input().Type("text").ID("repo-goto").Class("mono").Placeholder("team/app").Required(true).
				Value(p.goTo).OnInput(p.ValueTo(&p.goTo)),
			app.Button().Type("submit").Class("button").Text("Open"),
		),
	)
}

// onGoTo opens the repository named in the box; the repository page says if there is none.
func (p *catalogPage) onGoTo(ctx app.Context, e app.Event) {
	e.PreventDefault()
	name := strings.Trim(strings.TrimSpace(p.goTo), "/")
	if name != "" {
		ctx.Navigate(repositoryURL(name))
	}
}

// countText says how many repositories the filter matches, once they are loaded.
func (p *catalogPage) countText() string {
	if p.state != loaded || p.seeding {
		return ""
	}
	if globalQuery(p.filter.Query) && app.Getenv(EnvMode) != ModeDirect {
		return searchCount(p.found)
	}
	if p.partial {
		return catalogCount(p.total, p.filter) + " so far"
	}
	return catalogCount(p.total, p.filter)
}

// renderChoices is the kind filter and the order, as labelled selects.
func (p *catalogPage) renderChoices() app.UI {
	options := func(choices []choice, selected string) []app.UI {
		opts := make([]app.UI, 0, len(choices))
		for _, c := range choices {
			o := app.Option().Value(c.value).Text(c.label)
			if c.value == selected {
				// Only the chosen one carries the attribute: go-app's server render writes
				// selected="false", which HTML reads as selected.
				o = o.Selected(true)
			}
			opts = append(opts, o)
		}
		return opts
	}
	return app.Div().Class("choices").Body(
		app.Label().For("repo-kind").Text("Kind"),
		app.Select().ID("repo-kind").Body(options(catalogKinds, p.filter.kindValue())...).
			OnChange(p.onChoose(func(f *catalogFilter, v string) { f.Kind = v })),
		app.Label().For("repo-sort").Text("Sort"),
		app.Select().ID("repo-sort").Body(options(catalogSorts, p.filter.sortValue())...).
			OnChange(p.onChoose(func(f *catalogFilter, v string) { f.Sort = v })),
	)
}

// repoRow is one repository of the list: its name, then what the server knows of it, each
// fact in a cell of its own so the columns line up (empty cells where it knows nothing).
func repoRow(r api.Repository, now time.Time) app.UI {
	f := factsOf(r, now)
	var kind app.UI = app.Span().Class("fact kind")
	if f.Kind != "" {
		kind = app.Span().Class("fact kind").Body(app.Span().Class("chip kind-" + r.Kind).Text(f.Kind))
	}
	var pushed app.UI = app.Span().Class("fact pushed")
	if f.Pushed != "" {
		pushed = app.Time().Class("fact pushed").DateTime("%s", r.LastPush.UTC().Format(time.RFC3339)).Title(f.PushedAt).Text(f.Pushed)
	}
	return app.A().Class("repo").DataSet("repo", r.Name).DataSet("kind", r.Kind).Href(repositoryURL(r.Name)).Body(
		append(repoName(r.Name),
			kind,
			worstBadge(r),
			app.Span().Class("fact tags").Text(f.Tags),
			app.Span().Class("fact size").Text(f.Size),
			pushed,
			app.Span().Class("fact pulls").Text(f.Pulls),
		)...,
	)
}

// anonymousUnderControl reports whether nobody is signed in while access control decides
// what each visitor may read: the list holds only what is public.
func (p *catalogPage) anonymousUnderControl() bool {
	return p.session.AccessControl && p.session.User == ""
}

// signInToSee invites an anonymous visitor to sign in, back to the catalog's address after.
func (p *catalogPage) signInToSee(title, hint string) app.UI {
	back := Path("/")
	if q := p.filter.values().Encode(); q != "" {
		back += "?" + q
	}
	link := app.A().Class("button").ID("signin-to-see").Href(Path("/signin") + "?return=" + url.QueryEscape(back)).Text("Sign in")
	if title == "" {
		return app.P().Class("hint signin-hint").Body(app.Text(hint+" "), link)
	}
	return app.Div().Class("state empty").Body(
		app.P().Class("empty-title").Text(title),
		app.P().Class("hint").Text(hint),
		app.P().Body(link),
	)
}

// columnHeads labels the rows' facts. Name, size and last push sort the catalog: links to the
// same address with ?sort=, as the Sort select makes, so they work before app.wasm runs too.
func (p *catalogPage) columnHeads() app.UI {
	if app.Getenv(EnvMode) == ModeDirect {
		return nil // names only: nothing to label
	}
	head := func(class, label, sort, arrow string) app.UI {
		if sort == "" {
			return app.Span().Class("col " + class).Text(label)
		}
		f := p.filter
		f.Sort = sort
		f = parseCatalogFilter(f.values()) // the default order leaves the address
		addr := homeURL()
		if q := f.values().Encode(); q != "" {
			addr += "?" + q
		}
		link := app.A().Class("col sort " + class).Href(addr).Title("Sort by " + strings.ToLower(label)).Text(label)
		if p.filter.sortValue() == sort {
			link = app.A().Class("col sort current "+class).Href(addr).Aria("current", "true").Body(
				app.Text(label), app.Span().Aria("hidden", "true").Text(" "+arrow), srOnly(" (sorted)"))
		}
		return link
	}
	return app.Div().Class("repo-head").Body(
		head("name", "Repository", sortName, "↑"),
		head("kind", "Kind", "", ""),
		head("sev", "Findings", "", ""),
		head("tags", "Tags", "", ""),
		head("size", "Size", "-size", "↓"),
		head("pushed", "Last push", "-pushed", "↓"),
		head("pulls", "Pulls", "", ""),
	)
}
