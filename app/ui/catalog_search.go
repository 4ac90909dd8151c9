package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// The catalog's filter doubles as a search across repositories: a digest (sha256:…) finds
// every tag pointing at it, directly or as a platform of an index, and a label
// (label:name, or name=value with the value as a substring) every tag whose image carries
// it. Those answers are tags, not repository names, so they replace the list.

// searchLimit is how many tags one search shows.
const searchLimit = 100

// globalQuery reports whether the filter text asks for tags across repositories rather than
// repository names.
func globalQuery(q string) bool {
	q = strings.TrimSpace(q)
	return strings.HasPrefix(q, "sha256:") || strings.HasPrefix(q, "label:") || strings.Contains(q, "=")
}

// searchFor runs the global search for the filter text.
func (p *catalogPage) searchFor(ctx app.Context) {
	p.reset()
	gen, q := p.gen, strings.TrimSpace(p.filter.Query)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := apiClient().Search(c, q, searchLimit)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			p.found, p.state = res, loaded
		})
	})
}

// searchCount says how many tags the search found.
func searchCount(res api.SearchPage) string {
	if len(res.Results) == 1 {
		return "1 tag"
	}
	more := ""
	if len(res.Results) >= searchLimit || res.Incomplete {
		more = " (first ones)"
	}
	return fmt.Sprintf("%d tags%s", len(res.Results), more)
}

// renderFound lists the tags the search found, each linked to its manifest page.
func (p *catalogPage) renderFound() app.UI {
	res := p.found
	what := "digest"
	if !strings.HasPrefix(strings.TrimSpace(p.filter.Query), "sha256:") {
		what = "label"
	}
	if len(res.Results) == 0 {
		hint := "Only repositories you may read are searched, in what Berth has indexed."
		if res.Incomplete {
			hint = "The matches spread over too many repositories to check them all: narrow the search."
		}
		return emptyView("No tag has this "+what, hint)
	}
	rows := make([]app.UI, 0, len(res.Results))
	for _, r := range res.Results {
		ref := r.Tag
		if ref == "" {
			ref = r.Digest
		}
		var match app.UI = app.Span().Class("muted mono").Text(shortDigest(r.Digest))
		if r.Label != "" {
			match = app.Code().Class("break").Text(r.Label)
		}
		// An endpoint's hit (administrators) names its registry and links there.
		var where app.UI = app.Text("")
		if r.Registry != "" {
			where = app.Span().Class("muted").Text(r.Registry + ": ")
		}
		rows = append(rows, app.Tr().DataSet("result", r.Repository+":"+r.Tag).Body(
			app.Td().Class("break").Body(app.A().Href(manifestIn(r.Registry, r.Repository, ref)).Body(where, app.Text(r.Repository+":"+r.Tag))),
			app.Td().Body(match),
			app.Td().Text(r.Kind),
		))
	}
	return app.Div().Class("card").ID("search-results").Body(
		scrollBox("Tags found").Body(app.Table().Class("grid").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Tag"), app.Th().Text("Match"), app.Th().Text("Kind"))),
			app.TBody().Body(rows...),
		)),
		app.If(res.Incomplete, func() app.UI {
			return app.P().Class("hint").Text("The matches spread over more repositories than one search checks: narrow it to see the rest.")
		}),
	)
}
