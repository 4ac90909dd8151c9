package ui

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
)

// activityPoll is how often the feed asks for new events while the page is open.
const activityPoll = 5 * time.Second

// activityRanges are the time ranges offered, as the API spells them.
var activityRanges = []string{"24h", "7d", "30d", "90d"}

// activityPage is the live feed of registry events with filters, a push/pull chart (one
// repository or the whole registry) and the most pulled repositories.
type activityPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	repository string
	action     string
	actor      string
	rng        string

	state     loadState
	err       string
	events    []api.Event
	next      string // Before of the next older page; "" when the oldest is shown
	older     bool   // a "Load older" request is on its way
	stats     api.Stats
	repoStats api.RepositoryStats
	updated   time.Time
	gen       int  // bumped by every reload; stale answers are dropped
	poller    int  // identifies the live poll loop; others stop
	active    bool // false once the page is left
}

func (p *activityPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Activity · Berth")
	q := ctx.Page().URL().Query()
	p.repository, p.action, p.actor, p.rng = q.Get("repository"), q.Get("action"), q.Get("actor"), q.Get("range")
	if p.rng == "" {
		p.rng = "7d"
	}
	p.active = true
	p.load(ctx, true)
	p.poller++
	p.poll(ctx, p.poller)
}

func (p *activityPage) OnMount(ctx app.Context) { p.home.mount(ctx) }

func (p *activityPage) OnDismount() { p.active = false }

// poll refreshes the page every activityPoll seconds while it is shown.
func (p *activityPage) poll(ctx app.Context, id int) {
	ctx.After(activityPoll, func(ctx app.Context) {
		if !p.active || id != p.poller {
			return
		}
		p.load(ctx, false)
		p.poll(ctx, id)
	})
}

// load fetches the feed and the statistics; a background refresh keeps the current view
// on screen instead of showing the spinner.
func (p *activityPage) load(ctx app.Context, foreground bool) {
	p.gen++
	gen := p.gen
	if foreground {
		p.state, p.err, p.events, p.next = loading, "", nil, ""
	}
	q := api.EventQuery{Repository: p.repository, Action: p.action, Actor: p.actor, Since: p.rng, Limit: 100}
	repo, rng := p.repository, p.rng
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		page, err := apiClient().Events(c, q)
		var stats api.Stats
		var repoStats api.RepositoryStats
		if err == nil {
			stats, err = apiClient().Stats(c, rng)
		}
		if err == nil && repo != "" {
			repoStats, err = apiClient().RepositoryStats(c, repo, rng)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			if err != nil {
				if foreground || p.state != loaded {
					p.state, p.err = failed, err.Error()
				}
				return
			}
			p.events, p.next = mergeNewest(page.Events, page.Next, p.events, p.next)
			p.stats, p.repoStats = stats, repoStats
			p.state, p.updated = loaded, time.Now()
		})
	})
}

// mergeNewest puts a fresh first page in front of the older pages already shown, so the live
// refresh keeps what "Load older" fetched.
func mergeNewest(newest []api.Event, newestNext string, shown []api.Event, shownNext string) ([]api.Event, string) {
	if len(shown) <= len(newest) || len(newest) == 0 {
		return newest, newestNext
	}
	seen := make(map[string]bool, len(newest))
	for _, e := range newest {
		seen[e.ID] = true
	}
	oldest := newest[len(newest)-1].Timestamp
	out := append([]api.Event(nil), newest...)
	for _, e := range shown {
		if !seen[e.ID] && !e.Timestamp.After(oldest) {
			out = append(out, e)
		}
	}
	return out, shownNext
}

// loadOlder fetches the page of events before the oldest shown.
func (p *activityPage) loadOlder(ctx app.Context, e app.Event) {
	if p.next == "" || p.older {
		return
	}
	p.older = true
	q := api.EventQuery{Repository: p.repository, Action: p.action, Actor: p.actor, Since: p.rng, Limit: 100, Before: p.next}
	gen := p.gen
	ctx = p.home.of(ctx)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		page, err := apiClient().Events(c, q)
		ctx.Dispatch(func(ctx app.Context) {
			p.older = false
			if err != nil || gen != p.gen && q.Before != p.next {
				return
			}
			p.events = append(p.events, page.Events...)
			p.next = page.Next
		})
	})
}

// apply puts the filters into the URL, so a filtered view can be shared and survives reload.
func (p *activityPage) apply(ctx app.Context) {
	v := make([]string, 0, 4)
	add := func(k, val string) {
		if val != "" {
			v = append(v, k+"="+url.QueryEscape(val))
		}
	}
	add("repository", strings.TrimSpace(p.repository))
	add("action", p.action)
	add("actor", strings.TrimSpace(p.actor))
	add("range", p.rng)
	ctx.Navigate(Path("/activity?" + strings.Join(v, "&")))
}

func (p *activityPage) Render() app.UI {
	return page([]crumb{{label: "Activity"}},
		app.Div().Class("page-head").Body(
			app.H1().Text("Activity"),
			app.If(p.state == loaded, func() app.UI {
				return app.Span().Class("count live").Title("Refreshes every 5 seconds").Text("live · " + p.updated.Format("15:04:05"))
			}),
		),
		p.renderFilters(),
		p.renderBody(),
	)
}

func (p *activityPage) renderFilters() app.UI {
	text := func(id, label, placeholder string, value *string) app.UI {
		return app.Input().Type("search").Class("search").ID(id).Placeholder(placeholder).Aria("label", label).
			Value(*value).
			OnChange(func(ctx app.Context, e app.Event) {
				p.ValueTo(value)(ctx, e)
				p.apply(ctx)
			})
	}
	actions := []app.UI{app.Option().Value("").Text("All actions").Selected(p.action == "")}
	for _, a := range []string{"push", "pull", "delete", "mount"} {
		actions = append(actions, app.Option().Value(a).Text(a).Selected(p.action == a))
	}
	ranges := make([]app.UI, 0, len(activityRanges))
	for _, r := range activityRanges {
		ranges = append(ranges, app.Option().Value(r).Text("Last "+r).Selected(p.rng == r))
	}
	return app.Div().Class("toolbar activity-filters").Body(
		text("activity-repository", "Filter by repository", "Repository, e.g. library/alpine", &p.repository),
		app.Select().ID("activity-action").Aria("label", "Filter by action").Body(actions...).
			OnChange(func(ctx app.Context, e app.Event) {
				p.ValueTo(&p.action)(ctx, e)
				p.apply(ctx)
			}),
		text("activity-actor", "Filter by user", "User", &p.actor),
		app.Select().ID("activity-range").Aria("label", "Time range").Body(ranges...).
			OnChange(func(ctx app.Context, e app.Event) {
				p.ValueTo(&p.rng)(ctx, e)
				p.apply(ctx)
			}),
	)
}

func (p *activityPage) renderBody() app.UI {
	switch p.state {
	case loading:
		return loadingView("activity")
	case failed:
		return errorView(p.err, func(ctx app.Context, e app.Event) { p.load(ctx, true) })
	}
	counts, title := p.stats.Counts, "Pushes and pulls, all repositories"
	if p.repository != "" {
		counts, title = p.repoStats.Counts, "Pushes and pulls of "+p.repository
	}
	return app.Div().Class("activity").Body(
		app.Section().Class("panel chart-panel").Body(
			app.H2().Text(title),
			app.Raw(chartSVG(counts, p.stats.Bucket)),
			app.If(p.repository != "", func() app.UI {
				now := time.Now()
				return app.P().Class("hint").Text("Last push " + ago(p.repoStats.LastPush, now) + " · last pull " + ago(p.repoStats.LastPull, now))
			}),
		),
		app.Section().Class("panel top-pulled").Body(
			app.H2().Text("Most pulled"),
			p.renderTop(),
		),
		app.Section().Class("panel feed").Body(
			app.H2().Text("Events"),
			p.renderFeed(),
		),
	)
}

func (p *activityPage) renderTop() app.UI {
	if len(p.stats.TopPulled) == 0 {
		return app.P().Class("hint").Text("No pulls in this range.")
	}
	items := make([]app.UI, 0, len(p.stats.TopPulled))
	for _, t := range p.stats.TopPulled {
		items = append(items, app.Li().Body(
			app.A().Href(activityURL(t.Repository, p.rng)).Text(t.Repository),
			app.Span().Class("count").Text(plural(t.Pulls, "pull")),
		))
	}
	return app.Ol().Class("top-list").Body(items...)
}

func (p *activityPage) renderFeed() app.UI {
	if len(p.events) == 0 {
		return emptyView("No events", "Nothing matches these filters yet. Pushes and pulls show here as the registry reports them.")
	}
	now := time.Now()
	rows := make([]app.UI, 0, len(p.events))
	for _, e := range p.events {
		target := e.Repository
		if e.Tag != "" {
			target += ":" + e.Tag
		}
		link := repositoryURL(e.Repository)
		if e.Tag != "" {
			link += ":" + e.Tag
		} else if e.Digest != "" {
			link += "@" + e.Digest
		}
		who := e.Actor
		if who == "" {
			who = "anonymous"
		}
		rows = append(rows, app.Tr().Body(
			app.Td().Body(app.Span().Class("chip action-"+e.Action).Text(e.Action)),
			app.Td().Body(app.A().Href(link).Text(target)),
			app.Td().Class("mono").Title(e.Digest).Text(shortDigest(e.Digest)),
			app.Td().Text(who),
			app.Td().Title(e.Timestamp.Local().Format(time.RFC1123)).Text(ago(e.Timestamp, now)),
			app.Td().Class("hint").Title(e.UserAgent).Text(e.Source),
		))
	}
	return app.Div().Class("table-wrap").Body(
		app.Table().Class("grid events").ID("events").Body(
			app.THead().Body(app.Tr().Body(
				app.Th().Text("Action"), app.Th().Text("Target"), app.Th().Text("Digest"),
				app.Th().Text("User"), app.Th().Text("When"), app.Th().Text("Source"),
			)),
			app.TBody().Body(rows...),
		),
		app.If(p.next != "", func() app.UI {
			label := "Load older"
			if p.older {
				label = "Loading…"
			}
			return app.Div().Class("more").Body(
				app.Span().Class("hint").Text(plural(len(p.events), "event")+" shown"),
				app.Button().Class("button small").ID("events-older").Disabled(p.older).Text(label).OnClick(p.loadOlder),
			)
		}),
	)
}

// chartSVG draws pushes and pulls per bucket as grouped bars in an inline SVG. It is a pure
// function of its input, so the page renders the same on the server and in the browser.
func chartSVG(counts []api.DayCount, bucket string) string {
	const w, h, top, bottom, left = 720.0, 180.0, 10.0, 22.0, 34.0
	maxV := 1
	for _, c := range counts {
		maxV = max(maxV, c.Pushes, c.Pulls)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s" preserveAspectRatio="none">`,
		w, h, html.EscapeString("Pushes and pulls per "+bucket))
	plotH := h - top - bottom
	// Axis: zero line and the maximum.
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, left, h-bottom, w, h-bottom)
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="end">%d</text>`, left-4, top+8, maxV)
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g" text-anchor="end">0</text>`, left-4, h-bottom)
	if n := len(counts); n > 0 {
		slot := (w - left) / float64(n)
		bar := max(slot*0.38, 0.5)
		every := max(1, n/8) // at most about eight labels
		for i, c := range counts {
			x := left + float64(i)*slot + slot*0.1
			for j, v := range []int{c.Pushes, c.Pulls} {
				bh := plotH * float64(v) / float64(maxV)
				class := [2]string{"push", "pull"}[j]
				fmt.Fprintf(&b, `<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d %ss</title></rect>`,
					class, x+float64(j)*bar, h-bottom-bh, bar, bh, html.EscapeString(bucketLabel(c.Start, bucket)), v, class)
			}
			if i%every == 0 {
				fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g">%s</text>`, x, h-6, html.EscapeString(bucketLabel(c.Start, bucket)))
			}
		}
	}
	fmt.Fprintf(&b, `<g class="legend"><rect class="bar push" x="%g" y="2" width="10" height="10"/><text x="%g" y="11">pushes</text>`, w-130, w-116)
	fmt.Fprintf(&b, `<rect class="bar pull" x="%g" y="2" width="10" height="10"/><text x="%g" y="11">pulls</text></g>`, w-60, w-46)
	b.WriteString(`</svg>`)
	return b.String()
}

func bucketLabel(t time.Time, bucket string) string {
	if bucket == "hour" {
		return t.Local().Format("15:04")
	}
	return t.Local().Format("Jan 2")
}

// activityURL is the UI path of the activity page for one repository and range, under the
// base path the UI is served from.
func activityURL(repository, rng string) string {
	v := url.Values{}
	if repository != "" {
		v.Set("repository", repository)
	}
	if rng != "" {
		v.Set("range", rng)
	}
	if len(v) == 0 {
		return Path("/activity")
	}
	return Path("/activity?" + v.Encode())
}
