package ui

import (
	"context"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// auditActions are the audit log's actions, for the filter.
var auditActions = []string{
	"signin", "token", "write.denied", "user.create", "user.update", "user.disable", "user.enable",
	"team.create", "team.delete", "team.member", "namespace.create", "namespace.update",
	"namespace.delete", "namespace.member", "robot.create", "robot.revoke", "pat.create",
	"pat.revoke", "key.rotate",
}

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 50

// auditPage is the administrators' audit log: sign-ins, tokens issued or refused, job
// refusals and every account change, filtered by user, action and age, newest first, with
// older entries a page at a time. The filters live in the address, so a filtered view can
// be linked.
type auditPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	state   loadState
	err     error
	entries []api.AuditEntry
	next    int64
	older   bool // a further page is loading

	user, action, since string
	gen                 int
}

func (p *auditPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *auditPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Audit · Berth")
	q := ctx.Page().URL().Query()
	p.user, p.action, p.since = q.Get("user"), q.Get("action"), q.Get("since")
	p.load(ctx)
}

func (p *auditPage) query(before int64) api.AuditQuery {
	return api.AuditQuery{User: strings.TrimSpace(p.user), Action: p.action, Since: p.since, Before: before, Limit: auditPageSize}
}

func (p *auditPage) load(ctx app.Context) {
	p.gen++
	gen, q := p.gen, p.query(0)
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.AuditPage, error) { return a.Audit(c, q) },
		func(ctx app.Context, page api.AuditPage, err error) {
			if gen != p.gen {
				return
			}
			p.entries, p.next, p.err, p.state = page.Entries, page.Next, err, loaded
			if err != nil {
				p.state = failed
			}
		})
}

func (p *auditPage) loadOlder(ctx app.Context, e app.Event) {
	if p.older || p.next == 0 {
		return
	}
	gen, q := p.gen, p.query(p.next)
	p.older = true
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.AuditPage, error) { return a.Audit(c, q) },
		func(ctx app.Context, page api.AuditPage, err error) {
			p.older = false
			if gen != p.gen {
				return
			}
			if err != nil {
				p.err, p.state = err, failed
				return
			}
			p.entries, p.next = append(p.entries, page.Entries...), page.Next
		})
}

// apply puts the filters into the address; OnNav loads what it names.
func (p *auditPage) apply(ctx app.Context, e app.Event) {
	e.PreventDefault()
	u := *ctx.Page().URL()
	q := u.Query()
	for k, v := range map[string]string{"user": strings.TrimSpace(p.user), "action": p.action, "since": p.since} {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	ctx.NavigateTo(&u)
}

func (p *auditPage) Render() app.UI {
	actions := []app.UI{app.Option().Value("").Text("All actions").Selected(p.action == "")}
	for _, a := range auditActions {
		actions = append(actions, app.Option().Value(a).Text(a).Selected(p.action == a))
	}
	var since []app.UI
	for _, s := range []struct{ v, l string }{{"", "Any time"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"}} {
		since = append(since, app.Option().Value(s.v).Text(s.l).Selected(p.since == s.v))
	}
	return accessPage(p.session, "audit", "Audit",
		app.Form().Class("toolbar").ID("audit-filters").Role("search").OnSubmit(p.apply).Body(
			app.Input().Type("search").Class("search").ID("audit-user").Placeholder("User…").Aria("label", "Filter by user").
				Value(p.user).OnInput(p.ValueTo(&p.user)),
			app.Select().ID("audit-action").Class("filter").Aria("label", "Filter by action").Body(actions...).OnChange(p.ValueTo(&p.action)),
			app.Select().ID("audit-since").Class("filter").Aria("label", "Since").Body(since...).OnChange(p.ValueTo(&p.since)),
			app.Button().Type("submit").Class("button").ID("audit-apply").Text("Filter"),
		),
		p.renderBody(),
	)
}

func (p *auditPage) renderBody() app.UI {
	switch p.state {
	case loading:
		return loadingView("the audit log")
	case failed:
		return failure(p.err, p.load)
	}
	if len(p.entries) == 0 {
		return emptyView("Nothing recorded", "No audit entries match these filters.")
	}
	rows := make([]app.UI, len(p.entries))
	for i, e := range p.entries {
		outcome := app.Span().Class("chip").Text("ok")
		if !e.OK {
			outcome = app.Span().Class("chip warn").Text("refused")
		}
		detail := e.Detail
		if e.Scope != "" {
			detail = strings.TrimSpace(detail + " asked " + e.Scope + ", granted " + e.Granted)
		}
		rows[i] = app.Tr().DataSet("entry", e.ID).Body(
			app.Td().Class("created").Text(e.Time.Local().Format("2 Jan 15:04:05")),
			app.Td().Text(e.Actor),
			app.Td().Class("mono").Text(e.Action),
			app.Td().Class("break").Text(e.Target),
			app.Td().Body(outcome),
			app.Td().Class("break").Text(detail),
			app.Td().Class("mono").Text(e.Addr),
		)
	}
	return app.Div().Body(
		accessTable("audit", "Audit log", []string{"Time", "User", "Action", "Target", "Outcome", "Detail", "Address"}, rows),
		app.Div().Class("more").Body(
			app.Span().Class("count").Text(entriesLabel(len(p.entries))),
			app.If(p.next != 0, func() app.UI {
				label := "Older entries"
				if p.older {
					label = "Loading…"
				}
				return app.Button().Class("button").ID("audit-older").Disabled(p.older).Text(label).OnClick(p.loadOlder)
			}),
		),
	)
}

func entriesLabel(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return strconv.Itoa(n) + " entries"
}
