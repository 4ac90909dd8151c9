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
	// firstRows is how many tags, newest first, a prerendered repository page carries: the
	// first screen and some scrolling. The rest arrives in rows (api.TagRowsType) after.
	firstRows = 100
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
	home // its own context, for answers to scroll events

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
	copied   string          // the tag whose pull command was just copied
	announce string          // what the live region last said (copies)
	selected map[string]bool // tags ticked for a bulk delete
	kind     string          // filter: image, index, artifact … ("" for all)
	platform string          // filter: os/arch[/variant] ("" for all)
	findings string          // filter: fixableCritical, or "" for all (repository_scan.go)
	// Referrer tags (repository_referrers.go): by the digest they belong to, those whose
	// image has no tag, and how many tags are images (all the others).
	referrers map[string][]int
	orphans   []int
	images    int
	focus     rowFocus      // the row and control holding focus, kept when the window moves
	sev       tagSeverities // vulnerability counts of the rows seen (severity.go)
	gen       int

	untagged     *api.UntaggedPage // the untagged manifests, once listed
	untaggedErr  string
	untaggedNote string          // why the server cannot list them here
	untaggedOpen bool            // the untagged section is expanded
	labelFor     string          // the label filter labeled answers (in this repository)
	labeled      map[string]bool // tags with the label the filter names
	labelErr     string

	seed      *seed // on the server: the first tags with details, written into the prerendered page
	seeded    bool  // in the browser: the tags came with the page, not to be fetched
	more      int   // tags not received yet: the page came with its first rows only
	namesOnly bool  // the page came with the names only: the index cannot order them yet
	list      int   // which tag list the rows are: detail answers for an older one are dropped

	indexing  *api.IndexProgress // Berth fills its index for the first time (repository_first.go)
	following bool               // a read that follows the index is scheduled
	changes   tagChanges         // the page follows its repository (repository_changes.go)
}

// OnPreRender reads the newest tags with their details on the server, so that the page
// arrives with its first screen filled in; the browser fetches the rest.
func (p *repositoryPage) OnPreRender(ctx app.Context) {
	name := repositoryFromPath(ctx.Page().URL())
	ctx.Page().SetTitle("%s · Berth", name)
	src, c, cancel, ok := prerendering(ctx)
	if !ok {
		return
	}
	defer cancel()
	page, err := src.FirstTags(c, name, firstRows)
	if client.NotFound(err) {
		// Said on the page and by the status, without a tag filter or sections for nothing.
		markMissing(ctx)
		p.name, p.state, p.err = name, failed, err
		return
	}
	s := newSeed(ctx.Page().URL())
	switch {
	case api.ErrorCode(err) == api.CodeNotAvailable:
		if !p.prerenderNames(c, src, s, name) {
			return // the browser loads them
		}
	case err != nil || s.put(client.FirstTagsPath(name, firstRows), page) != nil:
		return // the browser loads them
	default:
		p.name, p.seed = name, s
		p.receiveFirst(page)
	}
	if p.more > 0 || p.namesOnly {
		// The other tags, asked for while app.wasm loads (see loadRest).
		s.Prefetch = append(s.Prefetch, prefetch{Path: client.AllTagsPath(name), Accept: client.AllTagsAccept})
	}
	// The activity line too, so it does not push the rows down when it arrives.
	if stats, err := src.RepositoryStats(c, name, activityRange); err == nil && s.put(client.RepositoryStatsPath(name, activityRange), stats) == nil {
		p.activity = &stats
	}
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
	switch {
	case s.get(client.FirstTagsPath(name, firstRows), &page):
		p.receiveFirst(page)
	case s.get(client.TagNamesPath(name), &page):
		p.receiveNamesOnly(page)
	default:
		return
	}
	p.name, p.seeded = name, true
	var stats api.RepositoryStats
	if s.get(client.RepositoryStatsPath(name, activityRange), &stats) {
		p.activity = &stats
	}
	if p.more == 0 && !p.namesOnly {
		// Every tag came with the page: kept also as the answer a later visit asks for, so
		// the page shows them offline though it never fetched them.
		client.Keep(apiClient(), client.AllTagsPath(name), s.Answers[client.FirstTagsPath(name, firstRows)])
	}
}

func (p *repositoryPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
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
		// The tags came with the page: only what the server did not render is fetched (the
		// other tags, in one answer), and the tags the registry failed on are asked for again.
		// With more tags to come, what else the page shows is asked for once they are in
		// (fetchAll): the rest of the tags has the server and the page to itself meanwhile.
		p.seeded = false
		if p.namesOnly {
			p.firstDetails(ctx) // the rows in view, then every tag (repository_first.go)
			p.loadRest(ctx)
		} else if p.more > 0 {
			p.loadRest(ctx)
		} else {
			p.retryFailed(ctx, 0, len(p.tags))
			p.loadUsage(ctx)
			p.loadSeverities(ctx)
			p.loadUntagged(ctx)
			p.followIndex(ctx)
			p.followChanges(ctx)
		}
		if p.activity == nil {
			p.loadActivity(ctx)
		}
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
	ctx = p.home.of(ctx)
	p.gen++
	gen, name := p.gen, p.name
	p.state, p.err, p.more, p.namesOnly = loading, nil, 0, false
	p.sev.reset()
	p.defaultSort()
	p.win.rowHeight = tagRowHeightFor()
	p.win.reset()
	p.forgetRepositoryState()
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
				p.loadUntagged(ctx)    // asked once the tags are in: it reads every tag afresh
				if p.state == loaded { // the names are in
					p.chunkDetails()
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
				p.loadUntagged(ctx)
			default:
				all = true
				p.receiveAll(page)
				p.retryFailed(ctx, 0, len(p.tags))
				p.loadActivity(ctx)
				p.loadUsage(ctx)
				p.loadSeverities(ctx)
				p.loadUntagged(ctx)
				p.followIndex(ctx)
				p.followChanges(ctx)
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
				return
			}
			p.streamDetails()
			ctx.After(viewFirstAfter, func(ctx app.Context) {
				if gen == p.gen && !all && p.state == loaded {
					p.firstDetails(ctx) // every tag takes long: the rows in view first
				}
			})
		})
	})
}

// receiveAll shows every tag with its details.
func (p *repositoryPage) receiveAll(page api.TagPage) {
	p.defaultSort()
	p.more, p.namesOnly, p.indexing, p.changes.token = 0, false, page.Indexing, page.Changes
	p.list++
	p.tags, p.pullHost, p.state, p.usage = page.Tags, page.PullHost, loaded, nil
	p.pending, p.attempts = map[int]bool{}, map[string]int{}
	p.next, p.inFlight = len(p.tags), 0
	p.tagsChanged()
}

// activityRange is the range of the repository's activity the page asks for.
const activityRange = "30d"

// loadActivity fetches the repository's last push and pull. Without notifications (or in a
// static export talking to a registry directly) there is none, and nothing is shown.
func (p *repositoryPage) loadActivity(ctx app.Context) {
	gen, name := p.gen, p.name
	p.activity = nil
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		stats, err := apiClient().RepositoryStats(c, name, activityRange)
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

func (p *repositoryPage) setSort(k sortKey) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if p.sortedBy() == k {
			p.desc = !p.desc
		} else {
			p.desc = k != byName
		}
		p.sort, p.namesOnly = k, false // chosen: sorted so even while details fill in
		p.refresh()
	}
}

// tagsChanged recomputes what is derived from the tags: which share a digest, and the view.
func (p *repositoryPage) tagsChanged() {
	p.groups = digestGroups(p.tags)
	p.referrerIndex()
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
	for i, t := range p.tags {
		if api.IsReferrerTag(t.Name) {
			continue // a badge of the image it belongs to, or listed apart (renderOrphans)
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
		if !keepsFindings(p.findings, t) {
			continue
		}
		p.view = append(p.view, i)
	}
	by := p.sortedBy()
	slices.SortStableFunc(p.view, func(i, j int) int {
		a, b := p.tags[i], p.tags[j]
		var c int
		switch by {
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

// sortedBy is the column the rows are in order of: the name while they fill in where they
// are (streamDetails), else the chosen one.
func (p *repositoryPage) sortedBy() sortKey {
	if p.namesOnly {
		return byName
	}
	return p.sort
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

func (p *repositoryPage) Render() app.UI {
	if p.state == failed && client.NotFound(p.err) {
		return page([]crumb{{label: "Repositories", href: homeURL()}, {label: p.name}},
			app.Div().Class("page-head").Body(app.H1().Class("repo-title").Body(repoName(p.name)...)),
			notFoundView("Repository not found", p.err.Error()),
			&repoAccess{Repo: p.name}, // who may push the first image here
		)
	}
	// No cleanup for a repository that could not be read. While tags (re)load it stays, so
	// that a cleanup's result survives the reload the cleanup itself triggers.
	var cleanup, imports app.UI
	if p.state != failed {
		cleanup, imports = cleanupSection(p.name), importSection(p.name)
	}
	crumbs := []crumb{{label: "Repositories", href: homeURL()}}
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
				label := p.countLabel()
				if p.more > 0 {
					label = thousands(len(p.tags)+p.more) + " tags · loading " + thousands(p.more) + " more…"
				} else if n := len(p.pending); n > 0 {
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
			app.If(p.indexing != nil && p.state == loaded, p.indexingNote),
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
			app.If(scannedTags(p.tags), func() app.UI {
				return selectFilter("findings-filter", "Filter by findings", "All findings", []string{fixableCritical}, &p.findings)
			}),
			p.bulkActions(),
		),
		app.Div().Class("repo-panels").Body(cleanup, imports),
		&repoAccess{Repo: p.name}, // access_repo.go: who may do what
		app.Div().Class("sr-only").ID("announce").Role("status").Aria("live", "polite").Text(p.announce),
		// Before the sections that come and go (untagged manifests arrive later): go-app
		// matches children by position, and a shift would replace an open dialog.
		&deleteDialog{},
		p.renderBody(),
		p.renderOrphans(),
		p.renderUntagged(),
		app.If(p.seed != nil, p.seed.script),
	)
}
