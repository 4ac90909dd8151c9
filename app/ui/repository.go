package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

const (
	// detailChunk is how many tags' details one request asks for; detailsInFlight how many
	// such requests run at once while a repository page fills in.
	detailChunk     = 100
	detailsInFlight = 4
	tagRowHeight    = 44
)

// sortKey is a column the tag table can be sorted by.
type sortKey string

const (
	byName    sortKey = "name"
	byCreated sortKey = "created"
	bySize    sortKey = "size"
)

// repositoryPage lists a repository's tags with digest, size, date and platforms. It shows
// every tag name at once, then fills in details chunk by chunk as they arrive; the table is
// virtual, so 10,000 tags cost what 50 do.
type repositoryPage struct {
	app.Compo

	user string // signed-in user, observed to reload after a sign-in

	name     string
	state    loadState
	err      error
	tags     []api.Tag // in the server's (name) order
	pending  map[int]bool
	next     int // offset of the next detail chunk to request
	inFlight int
	pullHost string
	filter   string
	sort     sortKey
	desc     bool
	view     []int                // indexes into tags, filtered and sorted; recomputed when they change
	groups   map[string]int       // digest → group number, for digests several tags share
	sharing  map[string][]string  // digest → every tag pointing to it, when several do
	activity *api.RepositoryStats // last push and pull, when Berth records notifications
	usage    *api.Usage           // storage with shared layers once, once every tag has details
	attempts map[string]int       // automatic retries made per tag
	win      window
	copied   string              // the tag whose pull command was just copied
	announce string              // what the live region last said (copies)
	selected map[string]bool     // tags ticked for a bulk delete
	kind     string              // filter: image, index, artifact … ("" for all)
	platform string              // filter: os/arch[/variant] ("" for all)
	signed   map[string][]string // digest → its cosign tags (sha256-<hex>.sig/.att/.sbom)
	focus    rowFocus            // the row and control holding focus, kept when the window moves
	sev      tagSeverities       // vulnerability counts of the rows seen (severity.go)
	gen      int

	untagged     *api.UntaggedPage // the untagged manifests, once listed
	untaggedErr  string
	untaggedNote string          // why the server cannot list them here
	untaggedOpen bool            // the untagged section is expanded
	labelFor     string          // the label filter labeled answers (in this repository)
	labeled      map[string]bool // tags with the label the filter names
	labelErr     string

	seed   *seed // on the server: every tag with details, written into the prerendered page
	seeded bool  // in the browser: the tags came with the page, not to be fetched
}

// OnPreRender reads every tag with its details on the server, so that the page arrives
// with its rows filled in.
func (p *repositoryPage) OnPreRender(ctx app.Context) {
	name := repositoryFromPath(ctx.Page().URL())
	ctx.Page().SetTitle("%s · Berth", name)
	src, c, cancel, ok := prerendering(ctx)
	if !ok {
		return
	}
	defer cancel()
	page, err := src.AllTags(c, name)
	s := newSeed(ctx.Page().URL())
	if err != nil || s.put(client.AllTagsPath(name), page) != nil {
		return // the browser loads them
	}
	p.name, p.seed = name, s
	p.receiveAll(page)
}

// OnInit takes over the tags the server put into the page, before the first render, so the
// rows the server rendered stay.
func (p *repositoryPage) OnInit() {
	s := takeSeed()
	if s == nil {
		return
	}
	name := repositoryFromPath(app.Window().URL())
	var page api.TagPage
	if !s.get(client.AllTagsPath(name), &page) {
		return
	}
	p.name, p.seeded = name, true
	p.receiveAll(page)
}

func (p *repositoryPage) OnMount(ctx app.Context) {
	p.focus.listen("#tags", "tag")
	reloadOnSignIn(ctx, &p.user, func() bool { return p.state == failed }, p.load)
	ctx.Handle(actionTagsChanged, func(ctx app.Context, a app.Action) { p.load(ctx) }) // ops.go
}

func (p *repositoryPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	p.name = repositoryFromPath(ctx.Page().URL())
	ctx.Page().SetTitle("%s · Berth", p.name)
	if p.seeded {
		// The tags came with the page: only what the server did not render is fetched, and
		// the tags the registry failed on are asked for again.
		p.seeded = false
		p.retryFailed(ctx, 0, len(p.tags))
		p.loadActivity(ctx)
		p.loadUsage(ctx)
		p.loadSeverities(ctx)
		p.loadUntagged(ctx)
	} else {
		p.load(ctx)
	}
	focusFilter(ctx, "tag-filter")
}

// defaultSort is the order a repository opens in: newest first.
func (p *repositoryPage) defaultSort() {
	if p.sort == "" {
		p.sort, p.desc = byCreated, true
	}
}

// load asks for every tag with its details in one answer, applied in one render. The tag
// names are asked for alongside, so a slow answer (details not yet indexed) shows the rows
// meanwhile. Where one answer is not offered (direct mode, an older server), details come
// chunk by chunk after the names.
func (p *repositoryPage) load(ctx app.Context) {
	p.gen++
	gen, name := p.gen, p.name
	p.state, p.err = loading, nil
	p.sev.reset()
	p.defaultSort()
	p.win.rowHeight = tagRowHeightFor()
	p.win.reset()
	p.forgetRepositoryState()
	p.loadUntagged(ctx)
	p.filterByLabel(ctx)
	// Both answers are handled in Dispatch, on the UI goroutine: these need no lock.
	var all, chunked bool // every detail arrived; only chunks are offered
	var namesErr error
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		page, err := apiClient().AllTags(c, name)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			switch code := api.ErrorCode(err); {
			case code == api.CodeDirectMode || code == api.CodeBadRequest:
				chunked = true
				if p.state == loaded { // the names are in
					p.fill(ctx)
					p.loadActivity(ctx)
				} else if namesErr != nil {
					p.state, p.err = failed, namesErr
				}
			case err != nil && p.state == loading:
				p.state, p.err = failed, err
			case err != nil: // the names are shown: keep them, with the error on each row
				for i := range p.tags {
					p.tags[i].Error = err.Error()
				}
				clear(p.pending)
				p.tagsChanged()
			default:
				all = true
				p.receiveAll(page)
				p.retryFailed(ctx, 0, len(p.tags))
				p.loadActivity(ctx)
				p.loadUsage(ctx)
				p.loadSeverities(ctx)
			}
		})
	})
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		page, err := apiClient().TagNames(c, name)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen || all || p.state == failed {
				return
			}
			if err != nil {
				namesErr = err
				if chunked {
					p.state, p.err = failed, err
				}
				return
			}
			p.receiveNames(page)
			if chunked {
				p.fill(ctx)
				p.loadActivity(ctx)
			}
		})
	})
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
}

// receiveAll shows every tag with its details.
func (p *repositoryPage) receiveAll(page api.TagPage) {
	p.defaultSort()
	p.tags, p.pullHost, p.state, p.usage = page.Tags, page.PullHost, loaded, nil
	p.pending, p.attempts = map[int]bool{}, map[string]int{}
	p.next, p.inFlight = len(p.tags), 0
	p.tagsChanged()
}

// receiveNames shows the tag names, their details pending.
func (p *repositoryPage) receiveNames(page api.TagPage) {
	p.tags, p.pullHost, p.state, p.usage = page.Tags, page.PullHost, loaded, nil
	p.pending = make(map[int]bool, len(p.tags))
	p.attempts = map[string]int{}
	for i := range p.tags {
		p.pending[i] = true
	}
	p.next, p.inFlight = 0, 0
	p.tagsChanged()
}

// loadActivity fetches the repository's last push and pull. Without notifications (or in a
// static export talking to a registry directly) there is none, and nothing is shown.
func (p *repositoryPage) loadActivity(ctx app.Context) {
	gen, name := p.gen, p.name
	p.activity = nil
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		stats, err := apiClient().RepositoryStats(c, name, "30d")
		if err != nil {
			return
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen == p.gen {
				p.activity = &stats
			}
		})
	})
}

// fill keeps up to detailsInFlight detail requests running until every tag has details.
func (p *repositoryPage) fill(ctx app.Context) {
	for p.inFlight < detailsInFlight && p.next < len(p.tags) {
		p.details(ctx, p.next, detailChunk)
		p.next += detailChunk
	}
}

// details fetches the details of limit tags from offset and merges them into the table.
func (p *repositoryPage) details(ctx app.Context, offset, limit int) {
	p.inFlight++
	gen, name := p.gen, p.name
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		page, err := apiClient().Tags(c, name, offset, limit)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			p.inFlight--
			for i := offset; i < min(offset+limit, len(p.tags)); i++ {
				delete(p.pending, i)
				if err != nil {
					p.tags[i].Error = err.Error()
				}
			}
			if err == nil {
				for i, t := range page.Tags {
					if at := offset + i; at < len(p.tags) && p.tags[at].Name == t.Name {
						p.tags[at] = t
					}
				}
			}
			p.retryFailed(ctx, offset, limit)
			p.tagsChanged()
			p.fill(ctx)
			p.loadSeverities(ctx)
			if len(p.pending) == 0 && p.inFlight == 0 && p.usage == nil {
				p.loadUsage(ctx)
			}
		})
	})
}

// loadUsage asks what the repository stores, counting shared layers once; by now the server
// has every tag's manifests cached, so it costs little.
func (p *repositoryPage) loadUsage(ctx app.Context) {
	gen, name := p.gen, p.name
	p.usage = &api.Usage{} // requested; filled in when the answer comes
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		u, err := apiClient().Usage(c, name, "")
		if err != nil {
			return
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen == p.gen {
				p.usage = &u
			}
		})
	})
}

// autoRetries is how many times a tag whose details failed (registry 429, 5xx, timeout) is
// asked for again by itself, waiting twice as long each time, before the row offers a button.
const autoRetries = 3

// retryFailed schedules, with backoff, another try for each failed tag in the range.
func (p *repositoryPage) retryFailed(ctx app.Context, offset, limit int) {
	for i := offset; i < min(offset+limit, len(p.tags)); i++ {
		n := p.attempts[p.tags[i].Name]
		if p.tags[i].Error == "" || n >= autoRetries {
			continue
		}
		p.attempts[p.tags[i].Name] = n + 1
		p.pending[i] = true
		gen, at := p.gen, i
		ctx.After(time.Second<<n, func(ctx app.Context) {
			if gen == p.gen && at < len(p.tags) {
				p.tags[at].Error = ""
				p.details(ctx, at, 1)
			}
		})
	}
}

// retry fetches one tag's details again, after a per-row error.
func (p *repositoryPage) retry(i int) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		p.tags[i].Error = ""
		p.pending[i] = true
		p.details(ctx, i, 1)
	}
}

func (p *repositoryPage) setSort(k sortKey) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if p.sort == k {
			p.desc = !p.desc
		} else {
			p.sort, p.desc = k, k != byName
		}
		p.refresh()
	}
}

// tagsChanged recomputes what is derived from the tags: which share a digest, and the view.
func (p *repositoryPage) tagsChanged() {
	p.groups = digestGroups(p.tags)
	p.signed = map[string][]string{}
	for _, t := range p.tags {
		if subject := cosignSubject(t.Name); subject != "" {
			p.signed[subject] = append(p.signed[subject], t.Name)
		}
	}
	p.sharing = make(map[string][]string, len(p.groups))
	for _, t := range p.tags {
		if p.groups[t.Digest] > 0 {
			p.sharing[t.Digest] = append(p.sharing[t.Digest], t.Name)
		}
	}
	p.refresh()
}

// refresh recomputes the filtered, sorted view after the tags, filter or order changed.
func (p *repositoryPage) refresh() {
	f := strings.ToLower(strings.TrimSpace(p.filter))
	_, _, byLabel := labelQuery(p.filter)
	if byLabel {
		f = ""
	}
	p.view = p.view[:0]
	digests := make(map[string]bool, len(p.tags))
	for _, t := range p.tags {
		digests[t.Digest] = true
	}
	for i, t := range p.tags {
		if subject := cosignSubject(t.Name); subject != "" && digests[subject] {
			continue // shown with the image it signs
		}
		if f != "" && !strings.Contains(strings.ToLower(t.Name), f) && !strings.HasPrefix(strings.TrimPrefix(t.Digest, "sha256:"), f) {
			continue
		}
		if byLabel && (p.labelFor != p.filter || !p.labeled[t.Name]) {
			continue
		}
		if p.kind != "" && t.Kind != p.kind {
			continue
		}
		if p.platform != "" && !slices.ContainsFunc(t.Platforms, func(pl api.Platform) bool { return pl.String() == p.platform }) {
			continue
		}
		p.view = append(p.view, i)
	}
	slices.SortStableFunc(p.view, func(i, j int) int {
		a, b := p.tags[i], p.tags[j]
		var c int
		switch p.sort {
		case byCreated:
			c = a.Created.Compare(b.Created)
		case bySize:
			c = cmpInt(a.Size, b.Size)
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if p.desc {
			return -c
		}
		return c
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cosignSubject returns the digest a cosign tag (sha256-<hex>.sig, .att, .sbom) is about, or
// "" for any other tag.
func cosignSubject(tag string) string {
	for _, suffix := range []string{".sig", ".att", ".sbom"} {
		if hex, ok := strings.CutSuffix(tag, suffix); ok {
			if h, ok := strings.CutPrefix(hex, "sha256-"); ok && len(h) == 64 {
				return "sha256:" + h
			}
		}
	}
	return ""
}

// filterOptions returns the kinds and platforms the repository's tags have, for the filters.
func (p *repositoryPage) filterOptions() (kinds, platforms []string) {
	for _, t := range p.tags {
		if t.Kind != "" && !slices.Contains(kinds, t.Kind) && cosignSubject(t.Name) == "" {
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

func (p *repositoryPage) Render() app.UI {
	// No cleanup for a repository that could not be read. While tags (re)load it stays, so
	// that a cleanup's result survives the reload the cleanup itself triggers.
	var cleanup, imports app.UI
	if p.state != failed {
		cleanup, imports = cleanupSection(p.name), importSection(p.name)
	}
	crumbs := []crumb{{label: "Repositories", href: Path("/")}}
	crumbs = append(crumbs, crumb{label: p.name})
	kinds, platforms := p.filterOptions()
	selectFilter := func(id, label, all string, options []string, value *string) app.UI {
		opts := []app.UI{app.Option().Value("").Text(all).Selected(*value == "")}
		for _, o := range options {
			opts = append(opts, app.Option().Value(o).Text(o).Selected(*value == o))
		}
		return app.Select().ID(id).Class("filter").Aria("label", label).Body(opts...).
			OnChange(func(ctx app.Context, e app.Event) {
				p.ValueTo(value)(ctx, e)
				p.refresh()
			}, app.EventScope(id))
	}
	return page(crumbs,
		app.Div().Class("page-head").Body(
			app.H1().Class("repo-title").Body(repoName(p.name)...),
			app.If(p.state == loaded, func() app.UI {
				label := plural(len(p.tags), "tag")
				if n := len(p.pending); n > 0 {
					label += fmt.Sprintf(" · loading details of %d…", n)
				} else if p.usage != nil && p.usage.Stored > 0 {
					label += " · " + humanSize(p.usage.Stored) + " stored"
				}
				return app.Span().Class("count").Text(label)
			}),
			app.If(p.activity != nil, func() app.UI {
				now := time.Now()
				return app.A().Class("hint activity-link").ID("repo-activity").
					Href(activityURL(p.name, "")).
					Title("push and pull activity of this repository").
					Text("Last push " + ago(p.activity.LastPush, now) + " · last pull " + ago(p.activity.LastPull, now))
			}),
		),
		app.Div().Class("toolbar").Body(
			app.Input().
				Type("search").
				Class("search").
				ID("tag-filter").
				Placeholder("Filter tags, digests or label:key=value…").
				Aria("label", "Filter tags").
				AutoFocus(true).
				Value(p.filter).
				OnInput(func(ctx app.Context, e app.Event) {
					p.ValueTo(&p.filter)(ctx, e)
					p.filterByLabel(ctx)
					p.refresh()
					p.loadSeverities(ctx)
				}).
				OnKeyDown(p.intoResults),
			app.If(len(kinds) > 1, func() app.UI { return selectFilter("kind-filter", "Filter by kind", "All kinds", kinds, &p.kind) }),
			app.If(len(platforms) > 1, func() app.UI {
				return selectFilter("platform-filter", "Filter by platform", "All platforms", platforms, &p.platform)
			}),
			p.bulkActions(),
		),
		app.Div().Class("repo-panels").Body(cleanup, imports),
		&repoAccess{Repo: p.name}, // access_repo.go: who may do what
		app.Div().Class("sr-only").ID("announce").Role("status").Aria("live", "polite").Text(p.announce),
		p.renderBody(),
		p.renderUntagged(),
		&deleteDialog{},
		app.If(p.seed != nil, p.seed.script),
	)
}

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
	all := len(targets) == len(p.tags)
	label := "Delete selected…"
	if all {
		label = "Delete all " + plural(len(targets), "tag") + "…"
	}
	return app.Div().Class("bulk").Body(
		app.Span().Class("count").Text(plural(len(targets), "tag")+" selected"),
		app.Button().Class("button danger").ID("bulk-delete").Text(label).OnClick(func(ctx app.Context, e app.Event) {
			openDelete(ctx, deleteRequest{Repo: p.name, Targets: targets, Opener: "#bulk-delete", All: all})
		}, app.EventScope(fmt.Sprint(all, targets))),
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
				app.Th().Text("Digest"),
				p.header("Size", bySize),
				p.header("Created", byCreated),
				app.Th().Text("Platforms"),
				app.Th().Text("Vulnerabilities"),
				app.Th().Class("actions").Body(srOnly("Actions")),
			)),
			app.TBody().Body(rows...),
		),
	)
}

// keepFocus runs after a re-render of the table.
func (p *repositoryPage) keepFocus(ctx app.Context) { p.focus.restore() }

// OnDismount stops following focus.
func (p *repositoryPage) OnDismount() { p.focus.stop() }

func (p *repositoryPage) onScroll(ctx app.Context, e app.Event) {
	p.win.rowHeight = tagRowHeightFor()
	p.win.onScroll(ctx, e)
	p.loadSeverities(ctx)
	ctx.Defer(p.keepFocus)
}

// OnResize switches the virtual list between table rows and phone cards.
func (p *repositoryPage) OnResize(ctx app.Context) { p.win.rowHeight = tagRowHeightFor() }

// tagCardHeight is the height of a tag's card on a phone (see berth.css, max-width 640px).
const tagCardHeight = 168

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
	if p.sort == k {
		arrow, sorted = " ↑", "ascending"
		if p.desc {
			arrow, sorted = " ↓", "descending"
		}
	}
	return app.Th().Aria("sort", sorted).Body(
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
			app.Td().Class("tag-name").Body(app.A().Class("mono").Href(manifestURL(p.name, t.Name)).Text(t.Name)),
			app.Td().ColSpan(6).Class("muted").Body(app.Span().Class("skeleton").Aria("hidden", "true"), srOnly("loading details")),
		)
	}
	pull := pullCommand(p.pullHost, p.name, t.Name, t.Kind, t.ArtifactType)
	var copyDigest app.UI
	if t.Digest != "" {
		key := "digest:" + t.Name
		copyDigest = app.Button().Class("copy-digest").DataSet("focus", "copy-digest").Title("Copy "+t.Digest).
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
	chips := platformChips(t)
	for _, s := range p.signed[t.Digest] {
		chips = append(chips, app.A().Class("chip artifact signed").Href(manifestURL(p.name, s)).Title(s).Text(referrerTagLabel(s)))
	}
	return app.Tr().Class("tag").DataSet("tag", t.Name).Body(
		check,
		app.Td().Class("tag-name").Body(
			app.A().Class("mono").Href(manifestURL(p.name, t.Name)).Text(t.Name),
			app.If(t.Error != "", func() app.UI {
				return app.Span().Class("row-error").Title(t.Error).Body(
					app.Text("⚠ details unavailable "),
					app.Button().Class("link").DataSet("focus", "retry").Aria("label", "Retry details of "+t.Name).Text("retry").OnClick(p.retry(i), app.EventScope(t.Name)),
				)
			}),
		),
		digest,
		app.Td().Class("size num").Text(sizeLabel(t)),
		created,
		app.Td().Class("platforms").Body(chips...),
		p.severityCell(t),
		app.Td().Class("actions").Body(
			app.Button().Class("button small copy-pull").DataSet("focus", "copy").Title(pull).Aria("label", "Copy pull command for "+t.Name).Text(copyLabel).
				OnClick(func(ctx app.Context, e app.Event) { p.copyAnnounced(ctx, t.Name, pull) }, app.EventScope(pull)),
			deleteButton(p.name, t, others(p.sharing[t.Digest], t.Name)),
		),
	)
}

// copyIcon is the digest copy button's picture (two sheets; a tick once copied), hidden from
// assistive technology: the button has its own name.
func copyIcon(copied bool) app.UI {
	if copied {
		return app.Raw(`<svg aria-hidden="true" width="12" height="12" viewBox="0 0 16 16"><path d="M2 8.5l4 4 8-9" fill="none" stroke="currentColor" stroke-width="2"/></svg>`)
	}
	return app.Raw(`<svg aria-hidden="true" width="12" height="12" viewBox="0 0 16 16"><rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M11 3V2.5A1.5 1.5 0 0 0 9.5 1h-7A1.5 1.5 0 0 0 1 2.5v7A1.5 1.5 0 0 0 2.5 11H3" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>`)
}
