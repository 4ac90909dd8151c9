package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// manifestPage shows one manifest by tag (/repositories/NAME:TAG) or digest
// (/repositories/NAME@sha256:…). For an index, ?platform=DIGEST picks the image shown, so
// the platform switcher works with back and forward.
type manifestPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	user string // signed-in user, observed to reload after a sign-in

	repo, ref string
	state     loadState
	err       error
	m         api.Manifest

	platform   string // digest of the index entry shown
	child      *api.Manifest
	childState loadState
	childErr   error

	supply fetched[api.SupplyChain] // the shown image's reports (manifest_findings.go)

	copied   string
	announce string // what the live region last said (copies)
	gen      int

	seed   *seed // on the server: the manifest and its platform's image, written into the page
	seeded bool  // in the browser: they came with the page, not to be fetched
}

// manifestTarget reads the repository, reference and chosen platform from a page URL.
func manifestTarget(u *url.URL) (repo, ref, platform string) {
	repo, ref = splitReference(u.Path)
	if r, err := url.PathUnescape(ref); err == nil {
		ref = r
	}
	return repo, ref, u.Query().Get("platform")
}

// shownPlatform is the index entry to show: the one asked for if the index has it, else the
// first.
func shownPlatform(m api.Manifest, asked string) string {
	if m.Kind != "index" || len(m.Platforms) == 0 {
		return ""
	}
	if slices.ContainsFunc(m.Platforms, func(pl api.Platform) bool { return pl.Digest == asked }) {
		return asked
	}
	return m.Platforms[0].Digest
}

// OnPreRender reads the manifest on the server, and for an index the image of the platform
// shown, so that the page arrives whole: platforms, config, layers.
func (p *manifestPage) OnPreRender(ctx app.Context) {
	repo, ref, platform := manifestTarget(ctx.Page().URL())
	ctx.Page().SetTitle("%s · Berth", manifestName(repo, ref))
	src, c, cancel, ok := prerendering(ctx)
	if !ok {
		return
	}
	defer cancel()
	m, err := src.Manifest(c, repo, ref)
	if client.NotFound(err) {
		markMissing(ctx)
		p.repo, p.ref, p.state, p.err = repo, ref, failed, err
		return
	}
	s := newSeed(ctx.Page().URL())
	if err != nil || s.put(client.ManifestPath(repo, ref), m) != nil {
		return // the browser loads it
	}
	var child *api.Manifest
	if platform = shownPlatform(m, platform); platform != "" {
		cm, err := src.Manifest(c, repo, platform)
		if err != nil || s.put(client.ManifestPath(repo, platform), cm) != nil {
			return
		}
		child = &cm
	}
	p.repo, p.ref, p.platform, p.seed = repo, ref, platform, s
	p.m, p.state, p.child, p.childState = m, loaded, child, loaded
}

// OnInit takes over what the server put into the page, before the first render, so the
// sections the server rendered stay.
func (p *manifestPage) OnInit() {
	s := takeSeed()
	if s == nil {
		return
	}
	repo, ref, platform := manifestTarget(app.Window().URL())
	var m api.Manifest
	if !s.get(client.ManifestPath(repo, ref), &m) {
		return
	}
	var child *api.Manifest
	if platform = shownPlatform(m, platform); platform != "" {
		var cm api.Manifest
		if !s.get(client.ManifestPath(repo, platform), &cm) {
			return
		}
		child = &cm
	}
	p.repo, p.ref, p.platform, p.seeded = repo, ref, platform, true
	p.m, p.state, p.child, p.childState = m, loaded, child, loaded
}

func (p *manifestPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
	// After a delete from this page the manifest (or its tag) is gone: show its repository.
	ctx.Handle(actionTagsChanged, func(ctx app.Context, a app.Action) { ctx.Navigate(repositoryURL(p.repo)) })
	ctx.Handle(actionScanned, func(ctx app.Context, a app.Action) { p.refreshFindings(ctx) })
}

func (p *manifestPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	repo, ref, platform := manifestTarget(ctx.Page().URL())
	if p.seeded {
		p.seeded = false // the page came with it; later navigations load
		ctx.Page().SetTitle("%s · Berth", manifestName(repo, ref))
		p.loadFindings(ctx)
		return
	}
	if repo != p.repo || ref != p.ref || p.state == failed {
		p.repo, p.ref, p.platform = repo, ref, platform
		ctx.Page().SetTitle("%s · Berth", manifestName(repo, ref))
		p.load(ctx)
		return
	}
	if platform == "" && len(p.m.Platforms) > 0 {
		platform = p.m.Platforms[0].Digest
	}
	if platform != p.platform {
		p.platform = platform
		p.loadChild(ctx)
		p.loadFindings(ctx)
	}
}

func (p *manifestPage) load(ctx app.Context) {
	p.gen++
	gen, repo, ref := p.gen, p.repo, p.ref
	p.state, p.err, p.child = loading, nil, nil
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m, err := apiClient().Manifest(c, repo, ref)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.state, p.err = failed, err
				return
			}
			p.m, p.state = m, loaded
			if platform := shownPlatform(m, p.platform); platform != "" {
				p.platform = platform
				p.loadChild(ctx)
			}
			p.loadFindings(ctx)
		})
	})
}

// loadChild fetches the image of the selected platform.
func (p *manifestPage) loadChild(ctx app.Context) {
	if p.m.Kind != "index" || p.platform == "" {
		return
	}
	p.gen++
	gen, repo, digest := p.gen, p.repo, p.platform
	ctx, p.childState, p.childErr = p.home.of(ctx), loading, nil
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m, err := apiClient().Manifest(c, repo, digest)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				p.childState, p.childErr = failed, err
				return
			}
			p.child, p.childState = &m, loaded
		})
	})
}

func (p *manifestPage) Render() app.UI {
	crumbs := []crumb{{label: "Repositories", href: homeURL()}, {label: p.repo, href: repositoryURL(p.repo)}, {label: refLabel(p.ref)}}
	var head app.UI
	if p.state != loaded { // the loaded page's head has the kind too
		head = app.Div().Class("page-head").Body(app.H1().Class("repo-title").Body(append(repoName(p.repo), app.Span().Class("ref").Text(refLabel(p.ref)))...))
	}
	return page(crumbs, head, p.renderBody(),
		app.Div().Class("sr-only").ID("announce").Role("status").Aria("live", "polite").Text(p.announce),
		&deleteDialog{},
		app.If(p.seed != nil, p.seed.script))
}

func (p *manifestPage) renderBody() app.UI {
	switch p.state {
	case loading:
		return loadingView("manifest")
	case failed:
		return failure(p.err, p.load)
	}
	m := p.m
	sections := []app.UI{
		app.Div().Class("page-head").Body(
			app.H1().Class("repo-title").Body(append(repoName(m.Repository), app.Span().Class("ref").Text(refLabel(m.Reference)))...),
			app.Span().Class("chip kind").Text(kindLabel(m)),
		),
		p.summary(m),
		app.Div().Class("ops-bar").Body(copySection(m.Repository, m.Reference), p.deleteAction(m)),
		app.If(browsed() == "", func() app.UI { return insideLinks(m) }), // contents: the main registry's
		slot(p.findingsCard()), // near the top: what people look for first in an image
	}
	if m.Note != "" {
		sections = append(sections, app.Div().Class("note").Role("note").Text(m.Note))
	}
	if m.Kind == "artifact" && strings.Contains(m.ArtifactType, "helm") && !strings.HasPrefix(m.Reference, "sha256:") && browsed() == "" {
		// Helm stores version 1.0.0+build as tag 1.0.0_build.
		sections = append(sections, app.Div().Class("card").Body(
			app.A().ID("chart-link").Href(chartURL(m.Repository, strings.ReplaceAll(m.Reference, "_", "+"))).Text("Open the chart page: Chart.yaml, README, values"),
		))
	}
	if m.Subject != nil {
		sections = append(sections, app.Div().Class("card").Body(
			app.H2().Text("Refers to"),
			app.A().Class("mono").Href(manifestURL(m.Repository, m.Subject.Digest)).Text(m.Subject.Digest),
		))
	}
	switch {
	case m.Kind == "index":
		sections = append(sections, p.platforms(m)...)
	case m.Image != nil:
		sections = append(sections, imageSections(m.Image)...)
	case m.Kind == "artifact":
		sections = append(sections, app.Div().Class("card").Body(
			app.H2().Text("Blobs"),
			descriptorTable(m.Blobs),
		))
	}
	sections = append(sections, p.referrers(m), annotationsCard("Annotations", m.Annotations), rawView("Raw manifest", m.Raw))
	return app.Div().ID("manifest").Body(sections...)
}

// deleteAction is the manifest page's delete button: the tag (or the manifest, when shown by
// digest) through the same dialog as the repository page.
func (p *manifestPage) deleteAction(m api.Manifest) app.UI {
	if !writable() {
		return nil
	}
	tag := m.Reference
	return app.Button().Class("button danger").ID("manifest-delete").Text("Delete…").OnClick(func(ctx app.Context, e app.Event) {
		openDelete(ctx, deleteRequest{Repo: m.Repository, Targets: []deleteTarget{{Tag: tag, Digest: m.Digest}}, Opener: "#manifest-delete"})
	}, app.EventScope(m.Repository, tag, m.Digest))
}

func (p *manifestPage) summary(m api.Manifest) app.UI {
	pullTag := ""
	if !api.IsDigest(m.Reference) {
		pullTag = pullCommand(m.PullHost, m.Repository, m.Reference, m.Kind, m.ArtifactType)
	}
	pullDigest := fmt.Sprintf("docker pull %s/%s@%s", m.PullHost, m.Repository, m.Digest)
	if m.Kind == "artifact" {
		pullDigest = fmt.Sprintf("oras pull %s/%s@%s", m.PullHost, m.Repository, m.Digest)
	}
	rows := []app.UI{
		field("Digest", p.copyBox("digest-value", "digest", m.Digest)),
		field("Media type", app.Span().Class("mono break").Text(m.MediaType)),
		field("Size", app.Span().Text(humanSize(m.Size)+sizeNote(m))),
	}
	if m.ArtifactType != "" {
		rows = append(rows, field("Artifact type", app.Span().Class("mono break").Text(m.ArtifactType)))
	}
	if m.Image != nil && !m.Image.Config.Created.IsZero() {
		c := m.Image.Config.Created
		rows = append(rows, field("Created", app.Span().Title(c.Local().Format(time.RFC1123)).Text(ago(c, time.Now())+" · "+c.Format("2006-01-02 15:04"))))
	}
	if pullTag != "" {
		rows = append(rows, field("Pull by tag", p.copyBox("tag", "pull command by tag", pullTag)))
	}
	rows = append(rows, field("Pull by digest", p.copyBox("digest-pull", "pull command by digest", pullDigest)))
	return app.Div().Class("card").Body(app.Dl().Class("fields").Body(rows...))
}

func sizeNote(m api.Manifest) string {
	if m.Kind == "index" {
		return fmt.Sprintf(" across %d platforms", len(m.Platforms))
	}
	return ""
}

// platforms renders an index's platform switcher and the selected platform's image.
func (p *manifestPage) platforms(m api.Manifest) []app.UI {
	tabs := make([]app.UI, 0, len(m.Platforms))
	for _, pl := range m.Platforms {
		selected := pl.Digest == p.platform
		cls := "tab"
		if selected {
			cls += " selected"
		}
		u := url.URL{Path: manifestURL(m.Repository, m.Reference), RawQuery: url.Values{"platform": {pl.Digest}}.Encode()}
		tabIndex := -1
		if selected {
			tabIndex = 0
		}
		tabs = append(tabs, app.A().Class(cls).Href(u.String()).Aria("selected", fmt.Sprint(selected)).Role("tab").TabIndex(tabIndex).OnKeyDown(tabKeys).Body(
			app.Span().Class("tab-name").Text(pl.String()),
			app.Span().Class("tab-size").Text(humanSize(pl.Size)),
		))
	}
	out := []app.UI{app.Div().Class("card").Body(
		app.H2().Text(fmt.Sprintf("Platforms (%d)", len(m.Platforms))),
		app.Div().Class("tabs").ID("platforms").Role("tablist").Body(tabs...),
		app.If(len(m.Attestations) > 0, func() app.UI {
			return app.P().Class("hint").Text(fmt.Sprintf("Also holds %s (build provenance or SBOM), not shown as platforms.", plural(len(m.Attestations), "attestation manifest")))
		}),
	)}
	switch {
	case p.childState == loading:
		out = append(out, loadingView("platform"))
	case p.childState == failed:
		out = append(out, failure(p.childErr, p.loadChild))
	case p.child != nil && p.child.Image != nil:
		out = append(out, app.P().Class("hint").Body(
			app.Text("Showing "),
			app.A().Class("mono").Href(manifestURL(m.Repository, p.child.Digest)).Text(shortDigest(p.child.Digest)),
		))
		out = append(out, app.Div().Class("card").Body(app.Dl().Class("fields").Body(
			field("Pull "+platformOf(p.child.Image), p.copyBox("platform-pull", "pull command for this platform",
				fmt.Sprintf("docker pull %s/%s@%s", m.PullHost, m.Repository, p.child.Digest))),
		)))
		out = append(out, imageSections(p.child.Image)...)
	}
	return out
}

// imageSections renders an image's config, layers and history.
func imageSections(img *api.Image) []app.UI {
	c := img.Config
	platform := api.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
	rows := []app.UI{field("Platform", app.Span().Class("mono").Text(platform.String()))}
	add := func(label string, v string) {
		if v != "" {
			rows = append(rows, field(label, app.Code().Class("break").Text(v)))
		}
	}
	add("Entrypoint", shellJoin(c.Entrypoint))
	add("Command", shellJoin(c.Cmd))
	add("Working dir", c.WorkingDir)
	add("User", c.User)
	add("Exposed ports", strings.Join(c.ExposedPorts, ", "))
	add("Volumes", strings.Join(c.Volumes, ", "))
	add("Stop signal", c.StopSignal)
	add("Author", c.Author)
	env := make([]app.UI, 0, len(c.Env))
	for _, e := range c.Env {
		env = append(env, app.Li().Class("mono break").Text(e))
	}
	if len(env) > 0 {
		rows = append(rows, field("Environment", app.Ul().Class("plain").Body(env...)))
	}

	var total int64
	layers := make([]app.UI, 0, len(img.Layers))
	for i, l := range img.Layers {
		total += l.Size
		layers = append(layers, app.Tr().Body(
			app.Td().Class("num").Text(fmt.Sprint(i+1)),
			app.Td().Class("mono").Title(l.Digest).Text(shortDigest(l.Digest)),
			app.Td().Class("mono muted").Text(l.MediaType),
			app.Td().Class("num").Text(humanSize(l.Size)),
		))
	}
	history := make([]app.UI, 0, len(img.History))
	for _, h := range img.History {
		size := app.Td().Class("num muted").Text("empty")
		if h.Layer >= 0 && h.Layer < len(img.Layers) {
			size = app.Td().Class("num").Text(humanSize(img.Layers[h.Layer].Size))
		}
		row := app.Tr()
		if h.EmptyLayer {
			row = row.Class("empty-layer")
		}
		history = append(history, row.Body(
			app.Td().Class("created").Title(h.Created.Format(time.RFC3339)).Text(ago(h.Created, time.Now())),
			app.Td().Class("mono break createdby").Text(cleanCreatedBy(h.CreatedBy)),
			size,
		))
	}
	return []app.UI{
		app.Div().Class("card").ID("config").Body(app.H2().Text("Configuration"), app.Dl().Class("fields").Body(rows...)),
		annotationsCard("Labels", c.Labels),
		app.Div().Class("card").ID("layers").Body(
			app.H2().Text(fmt.Sprintf("Layers (%d, %s)", len(img.Layers), humanSize(total))),
			scrollBox("Layers").Body(app.Table().Class("grid").Body(
				app.THead().Body(app.Tr().Body(app.Th().Text("#"), app.Th().Text("Digest"), app.Th().Text("Media type"), app.Th().Class("num").Text("Size"))),
				app.TBody().Body(layers...),
			)),
		),
		app.Div().Class("card").ID("history").Body(
			app.H2().Text(fmt.Sprintf("History (%d steps)", len(img.History))),
			scrollBox("History").Body(app.Table().Class("grid").Body(
				app.THead().Body(app.Tr().Body(app.Th().Text("Created"), app.Th().Text("Command"), app.Th().Class("num").Text("Layer"))),
				app.TBody().Body(history...),
			)),
		),
		rawView("Raw config", img.RawConfig),
	}
}

// cleanCreatedBy drops the shell boilerplate docker puts before every build step.
func cleanCreatedBy(s string) string {
	s = strings.TrimPrefix(s, "/bin/sh -c ")
	s = strings.TrimPrefix(s, "#(nop) ")
	return strings.TrimSpace(s)
}

// shellJoin renders an exec-form command line readably.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$") {
			a = fmt.Sprintf("%q", a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func annotationsCard(title string, m map[string]string) app.UI {
	if len(m) == 0 {
		return app.Text("")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rows := make([]app.UI, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, app.Tr().Body(app.Td().Class("mono key").Text(k), app.Td().Class("mono break").Text(m[k])))
	}
	return app.Div().Class("card").Body(
		app.H2().Text(title),
		scrollBox(title).Body(app.Table().Class("grid").Body(app.TBody().Body(rows...))),
	)
}

func descriptorTable(ds []api.Descriptor) app.UI {
	rows := make([]app.UI, 0, len(ds))
	for _, d := range ds {
		rows = append(rows, app.Tr().Body(
			app.Td().Class("mono").Title(d.Digest).Text(shortDigest(d.Digest)),
			app.Td().Class("mono muted").Text(d.MediaType),
			app.Td().Class("num").Text(humanSize(d.Size)),
		))
	}
	return scrollBox("Blobs").Body(app.Table().Class("grid").Body(
		app.THead().Body(app.Tr().Body(app.Th().Text("Digest"), app.Th().Text("Media type"), app.Th().Class("num").Text("Size"))),
		app.TBody().Body(rows...),
	))
}

func (p *manifestPage) referrers(m api.Manifest) app.UI {
	var body app.UI
	switch {
	case len(m.Referrers) > 0:
		rows := make([]app.UI, 0, len(m.Referrers))
		for _, r := range m.Referrers {
			kind := artifactLabel(r.ArtifactType)
			rows = append(rows, app.Tr().DataSet("referrer", r.Digest).Body(
				app.Td().Body(app.Span().Class("chip artifact").Title(r.ArtifactType).Text(kind)),
				app.Td().Body(app.A().Class("mono").Href(manifestURL(m.Repository, r.Digest)).Title(r.Digest).Text(shortDigest(r.Digest))),
				app.Td().Class("num").Text(humanSize(r.Size)),
				app.Td().Class("created").Text(ago(r.Created, time.Now())),
			))
		}
		body = scrollBox("Referrers").Body(app.Table().Class("grid").ID("referrers").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Type"), app.Th().Text("Digest"), app.Th().Class("num").Text("Size"), app.Th().Text("Created"))),
			app.TBody().Body(rows...),
		))
	case m.ReferrersError != "":
		body = app.P().Class("row-error").Text("Referrers could not be listed: " + m.ReferrersError)
	default:
		body = app.P().Class("hint").Text("Nothing refers to this manifest: no signature, SBOM or attestation.")
	}
	return app.Div().Class("card").Body(app.H2().Text(fmt.Sprintf("Referrers (%d)", len(m.Referrers))), body)
}

func rawView(title, raw string) app.UI {
	if raw == "" {
		return app.Text("")
	}
	return app.Details().Class("card raw").Body(
		app.Summary().Text(title),
		app.Pre().Class("mono").TabIndex(0).Aria("label", title).Text(prettyJSON(raw)),
	)
}

// prettyJSON indents raw JSON for reading; anything else is shown as it is.
func prettyJSON(raw string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(raw), "", "  ") != nil {
		return raw
	}
	return b.String()
}

// platformOf names an image's platform: linux/arm/v7.
func platformOf(img *api.Image) string {
	return api.Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}.String()
}

// tabKeys moves between tabs with the arrow keys, Home and End, the way a tablist works: the
// focused tab follows, and Enter or a click opens it.
func tabKeys(ctx app.Context, e app.Event) {
	tab := ctx.JSSrc()
	var next app.Value
	switch e.Get("key").String() {
	case "ArrowRight", "ArrowDown":
		next = tab.Get("nextElementSibling")
		if !next.Truthy() {
			next = tab.Get("parentElement").Get("firstElementChild")
		}
	case "ArrowLeft", "ArrowUp":
		next = tab.Get("previousElementSibling")
		if !next.Truthy() {
			next = tab.Get("parentElement").Get("lastElementChild")
		}
	case "Home":
		next = tab.Get("parentElement").Get("firstElementChild")
	case "End":
		next = tab.Get("parentElement").Get("lastElementChild")
	default:
		return
	}
	e.PreventDefault()
	tab.Set("tabIndex", -1)
	next.Set("tabIndex", 0)
	next.Call("focus")
}

// scrollBox is a wide table's horizontally scrolling box: focusable and named, so keyboard
// users can scroll it too (on phones the layer and history tables are wider than the screen).
func scrollBox(label string) app.HTMLDiv {
	return app.Div().Class("table-wrap flat").TabIndex(0).Role("region").Aria("label", label)
}
