package ui

import (
	"context"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// elsewhere lists, under the main registry's catalog filtered by a name, the repositories of
// other endpoints whose name holds it: the server's search across the registries the user may
// read (other endpoints: administrators only, so it asks for no one else).
type elsewhere struct {
	app.Compo
	Query string

	session api.Session
	hits    fetched[[]api.SearchResult]
}

// elsewhereDelay lets typing settle before the endpoints are asked.
const elsewhereDelay = 300 * time.Millisecond

func (e *elsewhere) OnMount(ctx app.Context) {
	ctx.ObserveState(stateSession, &e.session).OnChange(func() { e.load(ctx) })
	e.load(ctx)
}

func (e *elsewhere) OnUpdate(ctx app.Context) {
	q := e.Query
	ctx.After(elsewhereDelay, func(ctx app.Context) {
		if e.Query == q {
			e.load(ctx)
		}
	})
}

func (e *elsewhere) load(ctx app.Context) {
	q := strings.TrimSpace(e.Query)
	if !e.session.Admin || browsed() != "" || len(q) < 2 || globalQuery(q) || app.Getenv(EnvMode) == ModeDirect {
		e.hits.forget()
		return
	}
	e.hits.load(ctx, q, func(c context.Context) ([]api.SearchResult, error) {
		page, err := apiClient().Search(c, q, 50)
		// An endpoint with an index answers tags: one line per repository here.
		var out []api.SearchResult
		seen := map[string]bool{}
		for _, h := range page.Results {
			if key := h.Registry + "\x00" + h.Repository; h.Registry != "" && !seen[key] {
				seen[key] = true
				out = append(out, h)
			}
		}
		return out, err
	}, nil)
}

func (e *elsewhere) Render() app.UI {
	if e.hits.state != loaded || len(e.hits.v) == 0 {
		return app.Div().ID("elsewhere").Hidden(true)
	}
	items := make([]app.UI, 0, len(e.hits.v))
	for _, h := range e.hits.v {
		items = append(items, app.Li().Body(
			app.A().Href(registryURL(h.Registry, "/repositories/"+h.Repository)).Body(
				app.Span().Class("muted").Text(h.Registry+": "), app.Span().Class("mono").Text(h.Repository),
			),
		))
	}
	return app.Div().Class("card").ID("elsewhere").Body(
		app.H2().Text("In other registries"),
		app.Ul().Body(items...),
	)
}
