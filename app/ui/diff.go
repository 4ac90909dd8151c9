package ui

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// diffPage compares two images: /diff?from=REPO:TAG&to=REPO@DIGEST&platform=linux/amd64
// (fromPlatform and toPlatform pick different platforms of two indexes). The form changes
// the address, so a comparison is a link.
type diffPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	user string

	q client.DiffQuery
	// The form's fields, applied to the address on submit.
	from, to, platform string

	state loadState // loaded with nothing asked yet, while the form is empty
	err   error
	d     api.ImageDiff
	gen   int
}

// diffURL is the UI path of a comparison.
func diffURL(q client.DiffQuery) string {
	u := url.URL{Path: Path("/diff"), RawQuery: q.Values().Encode()}
	return u.String()
}

func (p *diffPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
}

func (p *diffPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	v := ctx.Page().URL().Query()
	p.q = client.DiffQuery{From: v.Get("from"), To: v.Get("to"), Platform: v.Get("platform"),
		FromPlatform: v.Get("fromPlatform"), ToPlatform: v.Get("toPlatform")}
	p.from, p.to, p.platform = p.q.From, p.q.To, p.q.Platform
	ctx.Page().SetTitle("Compare images · Berth")
	p.load(ctx)
	if p.q.From != "" && p.q.To == "" {
		focusFilter(ctx, "diff-to")
	}
}

func (p *diffPage) load(ctx app.Context) {
	p.gen++
	gen, q := p.gen, p.q
	if q.From == "" || q.To == "" {
		p.state, p.err = loaded, nil
		p.d = api.ImageDiff{}
		return
	}
	p.state, p.err = loading, nil
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // may index layers first
		defer cancel()
		d, err := apiClient().Diff(c, q)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			p.d, p.state = d, loaded
		})
	})
}

func (p *diffPage) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	q := p.q
	q.From, q.To, q.Platform = strings.TrimSpace(p.from), strings.TrimSpace(p.to), strings.TrimSpace(p.platform)
	ctx.Navigate(diffURL(q))
}

// swapped is the comparison the other way round.
func (p *diffPage) swapped() client.DiffQuery {
	q := p.q
	q.From, q.To, q.FromPlatform, q.ToPlatform = q.To, q.From, q.ToPlatform, q.FromPlatform
	return q
}

func (p *diffPage) Render() app.UI {
	return page([]crumb{{label: "Repositories", href: Path("/")}, {label: "Compare images"}},
		app.Div().Class("page-head").Body(app.H1().Text("Compare images")),
		app.Form().Class("card diff-form").ID("diff-form").OnSubmit(p.submit).Body(
			app.Div().Class("field").Body(
				app.Label().For("diff-from").Text("From (repository:tag or repository@digest)"),
				app.Input().Type("text").ID("diff-from").Class("mono").Required(true).Placeholder("team/app:1.0").Value(p.from).OnInput(p.ValueTo(&p.from)),
			),
			app.Div().Class("field").Body(
				app.Label().For("diff-to").Text("To"),
				app.Input().Type("text").ID("diff-to").Class("mono").Required(true).Placeholder("team/app:1.1").Value(p.to).OnInput(p.ValueTo(&p.to)),
			),
			app.Div().Class("field").Body(
				app.Label().For("diff-platform").Text("Platform of an index (optional)"),
				app.Input().Type("text").ID("diff-platform").Class("mono").Placeholder("linux/amd64").Value(p.platform).OnInput(p.ValueTo(&p.platform)),
			),
			app.Div().Class("dialog-actions").Body(
				app.Button().Type("submit").Class("button primary").ID("diff-compare").Text("Compare"),
				app.If(p.q.From != "" && p.q.To != "", func() app.UI {
					return app.A().Class("button").ID("diff-swap").Href(diffURL(p.swapped())).Text("Swap ⇄")
				}),
			),
		),
		p.renderBody(),
	)
}

func (p *diffPage) renderBody() app.UI {
	switch p.state {
	case loading:
		return loadingView("comparison (layers are read the first time)")
	case failed:
		return failure(p.err, p.load)
	}
	if p.q.From == "" || p.q.To == "" {
		return app.P().Class("hint").Text("Name two images, in the same repository or in two, to see what changed between them.")
	}
	d := p.d
	return app.Div().ID("diff").Body(
		p.summary(d),
		p.configCard(d.Config),
		p.layersCard(d),
		p.filesCard(d),
	)
}

// signedSize renders a size delta with its sign: +1.2 kB, −300 B.
func signedSize(n int64) string {
	switch {
	case n > 0:
		return "+" + humanSize(n)
	case n < 0:
		return "−" + humanSize(-n)
	}
	return "±0 B"
}

func (p *diffPage) side(s api.DiffSide) app.UI {
	img := client.Image{Repository: s.Repository, Reference: s.Reference, Platform: s.Platform}
	label := img.String()
	if s.Platform != "" {
		label += " (" + s.Platform + ")"
	}
	return app.Span().Body(
		app.A().Class("mono break").Href(insideURL(img, url.Values{})).Text(label),
		app.Span().Class("muted").Text(fmt.Sprintf(" · %s · %s, %s (%s)", shortDigest(s.Digest), humanSize(s.Size), plural(s.Files, "file"), humanSize(s.FilesSize))),
	)
}

func (p *diffPage) summary(d api.ImageDiff) app.UI {
	return app.Div().Class("card").ID("diff-summary").Body(app.Dl().Class("fields").Body(
		field("From", p.side(d.From)),
		field("To", p.side(d.To)),
		field("Size", app.Span().ID("diff-size").Text(fmt.Sprintf("%s compressed, %s of files", signedSize(d.SizeDelta), signedSize(d.FilesSizeDelta)))),
		field("Files", app.Span().Text(fmt.Sprintf("%d added, %d removed, %d changed", d.AddedCount, d.RemovedCount, d.ChangedCount))),
	))
}

func (p *diffPage) configCard(changes []api.ConfigChange) app.UI {
	if len(changes) == 0 {
		return app.Div().Class("card").Body(app.H2().Text("Configuration"), app.P().Class("hint").Text("The configurations are the same."))
	}
	var rows []app.UI
	for _, c := range changes {
		rows = append(rows, app.Tr().DataSet("field", c.Field).Body(
			app.Td().Text(c.Field),
			app.Td().Class("mono break").Text(c.Key),
			app.Td().Class("mono break removed").Text(c.From),
			app.Td().Class("mono break added").Text(c.To),
		))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Configuration (%s)", plural(len(changes), "change"))),
		scrollBox("Configuration changes").Body(app.Table().Class("grid").ID("diff-config").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Field"), app.Th().Text("Key"), app.Th().Text("From"), app.Th().Text("To"))),
			app.TBody().Body(rows...),
		)),
	)
}

func (p *diffPage) layersCard(d api.ImageDiff) app.UI {
	var rows []app.UI
	add := func(state string, ls []api.LayerInfo) {
		for _, l := range ls {
			rows = append(rows, app.Tr().DataSet("layer-state", state).Body(
				app.Td().Body(app.Span().Class("chip diff-"+state).Text(state)),
				app.Td().Class("num").Text(fmt.Sprint(l.Index+1)),
				app.Td().Class("mono").Title(l.Digest).Text(shortDigest(l.Digest)),
				app.Td().Class("num").Text(humanSize(l.Size)),
			))
		}
	}
	add("shared", d.SharedLayers)
	add("added", d.AddedLayers)
	add("removed", d.RemovedLayers)
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Layers (%d shared, %d added, %d removed)", len(d.SharedLayers), len(d.AddedLayers), len(d.RemovedLayers))),
		scrollBox("Layers").Body(app.Table().Class("grid").ID("diff-layers").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Change"), app.Th().Class("num").Text("Layer"), app.Th().Text("Digest"), app.Th().Class("num").Text("Size"))),
			app.TBody().Body(rows...),
		)),
	)
}

func (p *diffPage) filesCard(d api.ImageDiff) app.UI {
	var rows []app.UI
	entry := func(state string, e api.FileEntry, size string) {
		rows = append(rows, app.Tr().DataSet("change", state).DataSet("path", e.Path).Body(
			app.Td().Body(app.Span().Class("chip diff-"+state).Text(state)),
			app.Td().Class("mono break").Text(e.Path),
			app.Td().Text(e.Type),
			app.Td().Class("num").Text(size),
		))
	}
	sized := func(e api.FileEntry, sign int64) string {
		if e.Type != api.FileRegular {
			return ""
		}
		return signedSize(sign * e.Size)
	}
	for _, e := range d.Added {
		entry("added", e, sized(e, 1))
	}
	for _, e := range d.Removed {
		entry("removed", e, sized(e, -1))
	}
	for _, c := range d.Changed {
		what := signedSize(c.SizeDelta)
		if c.From.Type != c.To.Type {
			what = c.From.Type + " → " + c.To.Type
		}
		entry("changed", c.To, what)
	}
	if len(rows) == 0 {
		return app.Div().Class("card").Body(app.H2().Text("Files"), app.P().Class("hint").Text("No file differs."))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Files (%d added, %d removed, %d changed)", d.AddedCount, d.RemovedCount, d.ChangedCount)),
		app.If(d.Truncated, func() app.UI { return app.P().Class("hint").Text("Long lists are cut short; the counts are complete.") }),
		scrollBox("Files").Body(app.Table().Class("grid").ID("diff-files").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Change"), app.Th().Text("Path"), app.Th().Text("Type"), app.Th().Class("num").Text("Size"))),
			app.TBody().Body(rows...),
		)),
	)
}
