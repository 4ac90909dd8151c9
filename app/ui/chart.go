package ui

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// chartPage shows a Helm chart version (/chart/REPOSITORY:VERSION; without :VERSION, the
// newest): Chart.yaml, the README, values, templates and the commands to install it.
type chartPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	user string

	repo, version string
	state         loadState
	err           error
	versions      []api.ChartSummary
	latest        string // the newest stable version (the server's word)
	chart         api.Chart
	gen           int
}

// chartURL is the UI path of a chart version (the newest when version is empty).
func chartURL(repo, version string) string {
	if version == "" {
		return Path("/chart/" + repo)
	}
	return Path("/chart/" + repo + ":" + version)
}

func (p *chartPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
}

func (p *chartPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	rest := strings.Trim(strings.TrimPrefix(ctx.Page().URL().Path, Path("/chart/")), "/")
	repo, version, _ := strings.Cut(rest, ":")
	if v, err := url.PathUnescape(version); err == nil {
		version = v
	}
	if repo != p.repo || version != p.version || p.state == failed {
		p.repo, p.version = repo, version
		ctx.Page().SetTitle("%s · Berth", strings.TrimPrefix(chartURL(repo, version), Path("/chart/")))
		p.load(ctx)
	}
}

func (p *chartPage) load(ctx app.Context) {
	p.gen++
	gen, repo, version := p.gen, p.repo, p.version
	p.state, p.err = loading, nil
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		vs, err := apiClient().ChartVersions(c, repo)
		var ch api.Chart
		if err == nil {
			if version == "" {
				version = vs.Latest // the newest stable version, by semver on the server
			}
			if version == "" && len(vs.Versions) > 0 { // an older server
				version = vs.Versions[0].Version
			}
			ch, err = apiClient().Chart(c, repo, version)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			p.versions, p.latest, p.chart, p.state = vs.Versions, vs.Latest, ch, loaded
		})
	})
}

func (p *chartPage) Render() app.UI {
	crumbs := []crumb{{label: "Repositories", href: "/"}, {label: p.repo, href: repositoryURL(p.repo)}, {label: "chart " + p.chart.Version}}
	return page(crumbs, p.body())
}

func (p *chartPage) body() app.UI {
	switch p.state {
	case loading:
		return loadingView("chart")
	case failed:
		return failure(p.err, p.load)
	}
	c := p.chart
	m := c.Metadata
	head := []app.UI{app.H1().Class("repo-title").Body(append(repoName(m.Name), app.Span().Class("ref").Text(" "+m.Version))...)}
	if c.Prerelease {
		head = append(head, app.Span().Class("chip warn").ID("chart-prerelease").Text("pre-release"))
	}
	if m.Deprecated {
		head = append(head, app.Span().Class("chip").Text("deprecated"))
	}
	sections := []app.UI{
		app.Div().Class("page-head").Body(head...),
		app.If(m.Description != "", func() app.UI { return app.P().Class("hint").Text(m.Description) }),
		p.stableNote(),
		p.commands(c),
		chartFacts(c),
		p.versionList(),
		dependencies(m.Dependencies),
		app.If(c.ReadmeHTML != "", func() app.UI {
			// The only server HTML the UI inserts: rendered and sanitised by the server
			// (raw HTML escaped, unsafe links dropped).
			return app.Div().Class("card").Body(app.H2().Text("README"), app.Raw(`<div id="readme" class="readme">`+c.ReadmeHTML+`</div>`))
		}),
		app.Div().Class("card").Body(app.H2().Text("Values"), app.Pre().ID("values").Class("mono").TabIndex(0).Aria("label", "values.yaml").Text(orNone(c.Values, "# no values.yaml"))),
		app.If(c.ValuesSchema != "", func() app.UI {
			return app.Details().Class("card raw").Body(app.Summary().Text("Values schema"), app.Pre().ID("values-schema").Class("mono").TabIndex(0).Aria("label", "Values schema").Text(prettyJSON(c.ValuesSchema)))
		}),
		templates(c.Templates),
		signatures(c),
		app.If(c.Provenance != "", func() app.UI {
			return app.Details().Class("card raw").Body(app.Summary().Text("Provenance (.prov)"), app.Pre().ID("provenance").Class("mono").TabIndex(0).Aria("label", "Provenance").Text(c.Provenance))
		}),
	}
	return app.Div().ID("chart").Body(sections...)
}

func (p *chartPage) commands(c api.Chart) app.UI {
	line := func(id, cmd string) app.UI {
		return app.Div().Class("pull").Body(
			app.Code().ID(id).Class("mono").Text(cmd),
			app.Button().Class("button small").DataSet("copy", cmd).Aria("label", "Copy "+cmd).Text("Copy").OnClick(func(ctx app.Context, e app.Event) { copyToClipboard(cmd) }),
		)
	}
	return app.Div().Class("card").Body(app.H2().Text("Install"), line("install", c.Install), line("pull", c.Pull))
}

// chartFacts is Chart.yaml as a definition list.
func chartFacts(c api.Chart) app.UI {
	m := c.Metadata
	var rows []app.UI
	add := func(k string, v app.UI) { rows = append(rows, app.Dt().Text(k), app.Dd().Body(v)) }
	text := func(k, v string) {
		if v != "" {
			add(k, app.Text(v))
		}
	}
	link := func(k, v string) {
		if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") {
			add(k, app.A().Href(v).Rel("noopener noreferrer").Target("_blank").Text(v))
		} else {
			text(k, v)
		}
	}
	text("Name", m.Name)
	text("Version", m.Version)
	text("App version", m.AppVersion)
	text("Type", m.Type)
	text("API version", m.APIVersion)
	text("Kubernetes", m.KubeVersion)
	link("Home", m.Home)
	for _, s := range m.Sources {
		link("Source", s)
	}
	if len(m.Keywords) > 0 {
		text("Keywords", strings.Join(m.Keywords, ", "))
	}
	for _, mt := range m.Maintainers {
		who := mt.Name
		if mt.Email != "" {
			who += " <" + mt.Email + ">"
		}
		text("Maintainer", who)
	}
	text("Created", c.Created)
	text("Digest", c.Digest)
	return app.Div().Class("card").Body(app.H2().Text("Chart.yaml"), app.Dl().ID("chart-meta").Class("facts").Body(rows...))
}

// stableNote points from a pre-release to the newest stable version.
func (p *chartPage) stableNote() app.UI {
	if !p.chart.Prerelease || p.latest == "" || p.latest == p.chart.Version {
		return app.Text("")
	}
	return app.P().Class("hint").ID("chart-stable").Body(
		app.Text("This is a pre-release. The newest stable version is "),
		app.A().Href(chartURL(p.repo, p.latest)).Text(p.latest),
		app.Text("."),
	)
}

func (p *chartPage) versionList() app.UI {
	if len(p.versions) < 2 {
		return app.Text("")
	}
	items := make([]app.UI, 0, len(p.versions))
	for _, v := range p.versions {
		label := v.Version
		if v.AppVersion != "" {
			label += " (app " + v.AppVersion + ")"
		}
		var mark app.UI = app.Text("")
		switch {
		case v.Prerelease:
			mark = app.Span().Class("chip warn").Text("pre-release")
		case v.Version == p.latest:
			mark = app.Span().Class("chip").Text("latest stable")
		}
		if v.Version == p.chart.Version {
			items = append(items, app.Li().Class("current").DataSet("version", v.Version).Body(app.Text(label+" "), mark))
			continue
		}
		items = append(items, app.Li().DataSet("version", v.Version).Body(app.A().Href(chartURL(p.repo, v.Version)).Text(label), app.Text(" "), mark))
	}
	return app.Div().Class("card").Body(app.H2().Text("Versions"), app.Ul().ID("chart-versions").Body(items...))
}

func dependencies(ds []api.ChartDependency) app.UI {
	if len(ds) == 0 {
		return app.Text("")
	}
	rows := make([]app.UI, 0, len(ds))
	for _, d := range ds {
		// data-label names each cell where a phone stacks them (berth.css).
		rows = append(rows, app.Tr().Body(
			app.Td().DataSet("label", "Chart").Text(d.Name),
			app.Td().Class("mono").DataSet("label", "Version range").Text(d.Version),
			app.Td().Class("mono").DataSet("label", "Repository").Text(d.Repository),
			app.Td().DataSet("label", "Condition").Text(d.Condition),
		))
	}
	return app.Div().Class("card").Body(app.H2().Text("Dependencies"), app.Table().Class("grid deps").ID("dependencies").Body(
		app.THead().Body(app.Tr().Body(app.Th().Text("Chart"), app.Th().Text("Version range"), app.Th().Text("Repository"), app.Th().Text("Condition"))),
		app.TBody().Body(rows...),
	))
}

func templates(ts []string) app.UI {
	items := make([]app.UI, 0, len(ts))
	for _, t := range ts {
		items = append(items, app.Li().Class("mono").Text(t))
	}
	return app.Div().Class("card").Body(app.H2().Text("Templates"), app.Ul().ID("templates").Body(items...))
}

func signatures(c api.Chart) app.UI {
	if len(c.Signatures) == 0 {
		return app.Text("")
	}
	items := make([]app.UI, 0, len(c.Signatures))
	for _, s := range c.Signatures {
		items = append(items, app.Li().Body(
			app.A().Class("mono").Href(manifestURL(c.Repository, s.Digest)).Text(shortDigest(s.Digest)),
			app.Text(" "+artifactLabel(s.ArtifactType)),
		))
	}
	return app.Div().Class("card").Body(app.H2().Text("Signatures and attestations"), app.Ul().ID("signatures").Body(items...))
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}
