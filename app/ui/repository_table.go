package ui

// The repository page's tag table: its header, rows, selection and row actions (copy, delete).

import (
	"fmt"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// selectAllHeader is the select column's header: a checkbox that ticks every tag the filter
// shows (all of them with no filter), or clears them.
func (p *repositoryPage) selectAllHeader() app.UI {
	th := app.Th().Class("select")
	if !writable() || len(p.view) == 0 {
		return th.Body(srOnly("Select"))
	}
	all := true
	for _, i := range p.view {
		if !p.selected[p.tags[i].Name] {
			all = false
			break
		}
	}
	return th.Body(app.Input().Type("checkbox").ID("select-all").Checked(all).
		Aria("label", "Select all "+plural(len(p.view), "tag")+" shown").
		OnChange(func(ctx app.Context, e app.Event) {
			on := ctx.JSSrc().Get("checked").Bool()
			if p.selected == nil {
				p.selected = map[string]bool{}
			}
			for _, i := range p.view {
				if on {
					p.selected[p.tags[i].Name] = true
				} else {
					delete(p.selected, p.tags[i].Name)
				}
			}
		}, app.EventScope(fmt.Sprint(len(p.view), all))))
}

// intoResults moves focus from the filter to the first row on ArrowDown.
func (p *repositoryPage) intoResults(ctx app.Context, e app.Event) {
	intoList(e, "#tags tr.tag a")
}

// bulkActions is the toolbar's action on the ticked tags.
func (p *repositoryPage) bulkActions() app.UI {
	if !writable() || len(p.selected) == 0 {
		return nil
	}
	var targets []deleteTarget
	for _, t := range p.tags {
		if p.selected[t.Name] {
			targets = append(targets, deleteTarget{Tag: t.Name, Digest: t.Digest, Sharing: others(p.sharing[t.Digest], t.Name)})
		}
	}
	all := len(targets) == p.images && p.more == 0 // not while only the first rows are in
	label := "Delete selected…"
	if all {
		label = "Delete all " + p.countLabel() + "…"
	}
	var digests []string
	for _, t := range targets {
		digests = append(digests, t.Digest)
	}
	referrers := p.referrerRefs(digests, all)
	return app.Div().Class("bulk").Body(
		app.Span().Class("count").Text(plural(len(targets), "tag")+" selected"),
		app.Button().Class("button danger").ID("bulk-delete").Text(label).OnClick(func(ctx app.Context, e app.Event) {
			openDelete(ctx, deleteRequest{Repo: p.name, Targets: targets, Referrers: referrers, Opener: "#bulk-delete", All: all})
		}, app.EventScope(fmt.Sprint(all, targets, referrers))),
		app.Button().Class("button small").Text("Clear selection").OnClick(func(ctx app.Context, e app.Event) { p.selected = nil }),
	)
}

func (p *repositoryPage) renderBody() app.UI {
	switch {
	case p.state == loading:
		return loadingView("tags")
	case p.state == failed:
		return failure(p.err, p.load)
	case len(p.tags) == 0:
		return emptyView("This repository has no tags", "Its tags were deleted, or it has only untagged manifests. The registry keeps listing it until garbage collection runs.")
	}
	if _, _, byLabel := labelQuery(p.filter); byLabel && len(p.view) == 0 {
		switch {
		case p.labelErr != "":
			return emptyView("Tags could not be filtered by label", p.labelErr)
		case p.labelFor != p.filter:
			return app.P().Class("muted").ID("label-pending").Role("status").Text("Looking for tags with this label…")
		}
		return app.Div().ID("label-none").Body(emptyView("No tag has this label",
			"label:name keeps tags whose image has the label, label:name=value those whose value contains value (for example label:org.opencontainers.image.source=github.com)."))
	}
	if len(p.view) == 0 {
		return emptyView("No tag matches these filters", "Filter by part of a tag name or the start of a digest, or choose another kind or platform.")
	}
	now := time.Now()
	first, last := p.win.span(len(p.view))
	const cols = 8
	rows := make([]app.UI, 0, last-first+2)
	rows = append(rows, p.win.spacerRow(first, cols))
	for _, i := range p.view[first:last] {
		rows = append(rows, p.renderTag(i, p.groups[p.tags[i].Digest], now))
	}
	rows = append(rows, p.win.spacerRow(len(p.view)-last, cols))
	return app.Div().Class("table-wrap vlist").OnScroll(p.onScroll).Body(
		app.Table().Class("tags").ID("tags").Body(
			app.Caption().Class("sr-only").Text("Tags of "+p.name),
			app.THead().Body(app.Tr().Body(
				p.selectAllHeader(),
				p.header("Tag", byName),
				app.Th().Class("col-digest").Text("Digest"),
				p.header("Size", bySize),
				p.header("Created", byCreated),
				app.Th().Class("col-platforms").Text("Platforms"),
				app.Th().Class("col-vulns").Text("Vulnerabilities"),
				app.Th().Class("actions").Body(srOnly("Actions")),
			)),
			app.TBody().Body(rows...),
		),
	)
}

// keepFocus runs after a re-render of the table.
func (p *repositoryPage) keepFocus(ctx app.Context) { p.focus.restore() }

// OnDismount stops following focus and the repository's changes.
func (p *repositoryPage) OnDismount() {
	p.focus.stop()
	p.changes.stop()
}

func (p *repositoryPage) onScroll(ctx app.Context, e app.Event) {
	p.win.rowHeight = tagRowHeightFor()
	p.win.onScroll(ctx, e)
	if !p.namesOnly { // else once every tag is in (repository_first.go)
		p.loadSeverities(p.home.of(ctx))
	}
	p.detailsInView(p.home.of(ctx))
	ctx.Defer(p.keepFocus)
}

// OnResize switches the virtual list between table rows and phone cards.
func (p *repositoryPage) OnResize(ctx app.Context) { p.win.rowHeight = tagRowHeightFor() }

// tagCardHeight is the height of a tag's card on a phone (see berth.css, max-width 640px).
const tagCardHeight = 132

// tagRowHeightFor is the height of one tag in the current layout: a table row, or a card on
// a narrow screen.
func tagRowHeightFor() int {
	if app.IsServer {
		return tagRowHeight
	}
	if m := app.Window().Call("matchMedia", "(max-width: 640px)"); m.Truthy() && m.Get("matches").Bool() {
		return tagCardHeight
	}
	return tagRowHeight
}

func (p *repositoryPage) header(label string, k sortKey) app.UI {
	arrow, sorted := "", "none"
	if p.sortedBy() == k {
		arrow, sorted = " ↑", "ascending"
		if p.desc {
			arrow, sorted = " ↓", "descending"
		}
	}
	return app.Th().Class("col-"+string(k)).Aria("sort", sorted).Body(
		app.Button().Class("sort").Text(label + arrow).OnClick(p.setSort(k)),
	)
}

// digestGroups numbers the digests that more than one tag points to, so the table can mark
// tags that are the same image.
func digestGroups(tags []api.Tag) map[string]int {
	count := map[string]int{}
	for _, t := range tags {
		if t.Digest != "" {
			count[t.Digest]++
		}
	}
	groups := map[string]int{}
	for _, t := range tags {
		if count[t.Digest] > 1 {
			if _, ok := groups[t.Digest]; !ok {
				groups[t.Digest] = len(groups) + 1
			}
		}
	}
	return groups
}

// pullCommand is the command that fetches a tag, by what it holds: helm for a chart, oras
// for other artifacts, docker for images.
func pullCommand(host, repo, tag, kind, artifactType string) string {
	switch {
	case kind == "artifact" && strings.Contains(artifactType, "helm"):
		return fmt.Sprintf("helm pull oci://%s/%s --version %s", host, repo, tag)
	case kind == "artifact":
		return fmt.Sprintf("oras pull %s/%s:%s", host, repo, tag)
	}
	return fmt.Sprintf("docker pull %s/%s:%s", host, repo, tag)
}

// copyAnnounced copies text and says so in the page's live region.
func (p *repositoryPage) copyAnnounced(ctx app.Context, key, text string) {
	copyToClipboard(text)
	p.copied, p.announce = key, "Copied to the clipboard: "+text
	ctx = p.home.of(ctx)
	ctx.After(2*time.Second, func(ctx app.Context) {
		if p.copied == key {
			p.copied = ""
		}
	})
}

func (p *repositoryPage) renderTag(i int, group int, now time.Time) app.UI {
	t := p.tags[i]
	check := app.Td().Class("select")
	if writable() {
		check = check.Body(app.Input().Type("checkbox").DataSet("focus", "select").Aria("label", "Select "+t.Name).
			Checked(p.selected[t.Name]).OnChange(func(ctx app.Context, e app.Event) {
			if p.selected == nil {
				p.selected = map[string]bool{}
			}
			if ctx.JSSrc().Get("checked").Bool() {
				p.selected[t.Name] = true
			} else {
				delete(p.selected, t.Name)
			}
		}, app.EventScope(t.Name)))
	}
	if p.pending[i] {
		return app.Tr().Class("tag pending").DataSet("tag", t.Name).Body(
			check,
			p.tagNameCell(t),
			app.Td().ColSpan(6).Class("muted").Body(app.Span().Class("skeleton").Aria("hidden", "true"), srOnly("loading details")),
		)
	}
	pull := pullCommand(p.pullHost, p.name, t.Name, t.Kind, t.ArtifactType)
	var copyDigest app.UI
	if t.Digest != "" {
		key := "digest:" + t.Name
		copyDigest = app.Button().Class("copy-digest").DataSet("focus", "copy-digest").DataSet("copy", t.Digest).Title("Copy "+t.Digest).
			Aria("label", "Copy digest of "+t.Name).Body(copyIcon(p.copied == key)).
			OnClick(func(ctx app.Context, e app.Event) { p.copyAnnounced(ctx, key, t.Digest) }, app.EventScope(t.Name, t.Digest))
	}
	digest := app.Td().Class("digest mono").Title(t.Digest).Body(app.Text(shortDigest(t.Digest)), copyDigest)
	if group > 0 {
		digest = app.Td().Class("digest mono").Title(t.Digest+" — shared with other tags").Body(
			app.Span().Class(fmt.Sprintf("group g%d", (group-1)%6)).Aria("hidden", "true"),
			srOnly(fmt.Sprintf("same image as other tags (group %d): ", group)),
			app.Text(shortDigest(t.Digest)),
			copyDigest,
		)
	}
	created := app.Td().Class("created").Text("—")
	if !t.Created.IsZero() {
		created = app.Td().Class("created").Title(t.Created.Local().Format("2006-01-02 15:04:05 MST")).Text(ago(t.Created, now))
	}
	copyLabel := "Copy pull"
	if p.copied == t.Name {
		copyLabel = "Copied ✓"
	}
	chips := append(platformChips(t), p.referrerChips(t.Digest)...)
	cells := append([]app.UI{check, p.tagNameCell(t)},
		p.detailCells(i, t, digest, created)...)
	return app.Tr().Class("tag").DataSet("tag", t.Name).Body(append(cells,
		app.Td().Class("platforms").Body(chips...),
		p.severityCell(t),
		app.Td().Class("actions").Body(
			app.Button().Class("button small copy-pull").DataSet("focus", "copy").DataSet("copy", pull).Title(pull).Aria("label", "Copy pull command for "+t.Name).Text(copyLabel).
				OnClick(func(ctx app.Context, e app.Event) { p.copyAnnounced(ctx, t.Name, pull) }, app.EventScope(pull)),
			deleteButton(p.name, t, others(p.sharing[t.Digest], t.Name), p.referrerRefs([]string{t.Digest}, false)),
		),
	)...)
}

// detailCells are a row's digest, size and created cells; when the tag's details could not be
// read, one cell across all three says so with a retry button, where nothing would otherwise
// show (the tag cell is too narrow: the button ended up cut off behind "…").
func (p *repositoryPage) detailCells(i int, t api.Tag, digest, created app.UI) []app.UI {
	if t.Error == "" {
		return []app.UI{digest, app.Td().Class("size num").Text(sizeLabel(t)), created}
	}
	return []app.UI{app.Td().Class("digest row-problem").ColSpan(3).Title(t.Error).Body(
		app.Span().Class("row-error").Text("⚠ details unavailable"),
		app.Button().Class("link").DataSet("focus", "retry").Aria("label", "Retry details of "+t.Name).Text("retry").OnClick(p.retry(i), app.EventScope(t.Name)),
	)}
}

// copyIcon is the digest copy button's picture (two sheets; a tick once copied), hidden from
// assistive technology: the button has its own name.
func copyIcon(copied bool) app.UI {
	if copied {
		return app.Raw(`<svg aria-hidden="true" width="12" height="12" viewBox="0 0 16 16"><path d="M2 8.5l4 4 8-9" fill="none" stroke="currentColor" stroke-width="2"/></svg>`)
	}
	return app.Raw(`<svg aria-hidden="true" width="12" height="12" viewBox="0 0 16 16"><rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M11 3V2.5A1.5 1.5 0 0 0 9.5 1h-7A1.5 1.5 0 0 0 1 2.5v7A1.5 1.5 0 0 0 2.5 11H3" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>`)
}

// tagNameCell is a row's tag name, linked to its manifest. Its paint is reported to the
// page's Element Timing (identifier "tag-row"): when the first row showed, as measured in
// BenchmarkUIScale and by any real-user monitoring.
func (p *repositoryPage) tagNameCell(t api.Tag) app.UI {
	return app.Td().Class("tag-name").Attr("elementtiming", "tag-row").Body(app.A().Class("mono").Href(manifestURL(p.name, t.Name)).Text(t.Name))
}
