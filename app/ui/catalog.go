package ui

import (
	"context"
	"fmt"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

const (
	catalogPageSize = 200
	searchDebounce  = 250 * time.Millisecond
)

// catalogPage lists the registry's repositories with a server-side filter. Its state changes
// only in Dispatch callbacks and event handlers; Render reads it.
type catalogPage struct {
	app.Compo

	user string // signed-in user, observed to reload after a sign-in

	query   string
	state   loadState
	err     error
	repos   []api.Repository
	total   int
	more    bool // a "show more" fetch is under way
	updated time.Time
	// gen numbers fetches, so that an answer to an older query never overwrites a newer one.
	gen int
}

func (p *catalogPage) OnMount(ctx app.Context) {
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, func(ctx app.Context) { p.load(ctx, 0) })
}

func (p *catalogPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Repositories · Berth")
	p.query = ctx.Page().URL().Query().Get("q")
	p.load(ctx, 0)
}

// load fetches the catalog page starting at offset; offset 0 replaces the list.
func (p *catalogPage) load(ctx app.Context, offset int) {
	p.gen++
	gen, query := p.gen, p.query
	if offset == 0 {
		p.state, p.err = loading, nil
	} else {
		p.more = true
	}
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		page, err := client().Repositories(c, query, offset, catalogPageSize)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			p.more = false
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			if offset == 0 {
				p.repos = page.Repositories
			} else {
				p.repos = append(p.repos, page.Repositories...)
			}
			p.total, p.updated, p.state = page.Total, page.Updated, loaded
		})
	})
}

func (p *catalogPage) onSearch(ctx app.Context, e app.Event) {
	p.query = ctx.JSSrc().Get("value").String()
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
			p.load(ctx, 0)
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
				OnInput(p.onSearch),
		),
		p.renderBody(),
	)
}

func countLabel(total int, query string) string {
	noun := "repositories"
	if total == 1 {
		noun = "repository"
	}
	if query != "" {
		return fmt.Sprintf("%d %s match “%s”", total, noun, query)
	}
	return fmt.Sprintf("%d %s", total, noun)
}

func (p *catalogPage) renderBody() app.UI {
	switch {
	case p.state == loading:
		return loadingView("repositories")
	case p.state == failed:
		return failure(p.err, func(ctx app.Context) { p.load(ctx, 0) })
	case len(p.repos) == 0 && p.query != "":
		return emptyView("No repository matches “"+p.query+"”", "Try a shorter filter, or part of a name such as “api”.")
	case len(p.repos) == 0:
		return emptyView("This registry has no repositories yet", "Push an image, e.g. crane copy alpine localhost:5000/library/alpine, and it shows up here.")
	}
	rows := make([]app.UI, 0, len(p.repos))
	for _, r := range p.repos {
		rows = append(rows, app.Li().Class("repo").Body(
			app.A().Href(repositoryURL(r.Name)).Body(repoName(r.Name)...),
		))
	}
	return app.Div().Body(
		app.Ul().Class("repo-list").ID("repositories").Body(rows...),
		app.If(len(p.repos) < p.total, func() app.UI {
			return app.Div().Class("more").Body(
				app.Span().Class("hint").Text(fmt.Sprintf("Showing %d of %d", len(p.repos), p.total)),
				app.Button().Class("button").Disabled(p.more).Text("Show more").OnClick(func(ctx app.Context, e app.Event) {
					p.load(ctx, len(p.repos))
				}),
			)
		}),
	)
}

// repoName renders a repository name with its namespace dimmed, so the last part stands out.
func repoName(name string) []app.UI {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return []app.UI{
				app.Span().Class("ns").Text(name[:i+1]),
				app.Span().Class("leaf").Text(name[i+1:]),
			}
		}
	}
	return []app.UI{app.Span().Class("leaf").Text(name)}
}
