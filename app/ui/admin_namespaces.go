package ui

import (
	"context"
	"net/url"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// namespacesPage lists the namespaces the user can reach; administrators create more.
type namespacesPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session    api.Session
	state      loadState
	err        error
	namespaces []api.Namespace

	name, owner, ownerKind string
	busy                   bool
	formErr                string
	gen                    int
}

func (p *namespacesPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *namespacesPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Namespaces · Berth")
	p.ownerKind = "team"
	p.load(ctx)
}

func (p *namespacesPage) load(ctx app.Context) {
	p.gen++
	gen := p.gen
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) ([]api.Namespace, error) { return a.Namespaces(c) },
		func(ctx app.Context, ns []api.Namespace, err error) {
			if gen != p.gen {
				return
			}
			p.namespaces, p.err, p.state = ns, err, loaded
			if err != nil {
				p.state = failed
			}
		})
}

func (p *namespacesPage) create(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	req := api.NamespaceRequest{Name: strings.TrimSpace(p.name)}
	if p.ownerKind == "user" {
		req.User = strings.TrimSpace(p.owner)
	} else {
		req.Team = strings.TrimSpace(p.owner)
	}
	p.busy, p.formErr = true, ""
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.Namespace, error) { return a.CreateNamespace(c, req) },
		func(ctx app.Context, n api.Namespace, err error) {
			p.busy = false
			if err != nil {
				p.formErr = err.Error()
				return
			}
			ctx.Navigate(namespaceURL(n.Name))
		})
}

func namespaceURL(name string) string { return Path("/access/namespaces/" + name) }

func (p *namespacesPage) Render() app.UI {
	return accessPage(p.session, "namespaces", "Namespaces",
		app.P().Class("hint").Text("A namespace is the first part of repository names (alice/… or web/…). A viewer pulls, a developer also pushes, a maintainer also deletes, an owner also manages members and robots."),
		app.If(p.session.Admin, func() app.UI {
			return app.Form().Class("card access-form").ID("namespace-form").OnSubmit(p.create).Body(
				app.H2().Text("New namespace"),
				app.Div().Class("form-row").Body(
					app.Label().For("namespace-name").Text("Name"),
					app.Input().ID("namespace-name").Required(true).MaxLength(64).Value(p.name).OnInput(p.ValueTo(&p.name)),
					app.Label().For("namespace-owner-kind").Text("Owned by"),
					app.Select().ID("namespace-owner-kind").Class("filter").Body(
						app.Option().Value("team").Text("a team").Selected(p.ownerKind == "team"),
						app.Option().Value("user").Text("a user").Selected(p.ownerKind == "user"),
					).OnChange(p.ValueTo(&p.ownerKind)),
					app.Label().For("namespace-owner").Text("Team or user name"),
					app.Input().ID("namespace-owner").Required(true).Value(p.owner).OnInput(p.ValueTo(&p.owner)),
					app.Button().Type("submit").Class("button").ID("namespace-create").Disabled(p.busy).Text("Create namespace"),
				),
				formError(p.formErr),
			)
		}),
		p.renderList(),
	)
}

func (p *namespacesPage) renderList() app.UI {
	switch p.state {
	case loading:
		if p.namespaces == nil {
			return loadingView("namespaces")
		}
	case failed:
		return failure(p.err, p.load)
	}
	if len(p.namespaces) == 0 {
		return emptyView("No namespaces", "You hold no role in any namespace.")
	}
	rows := make([]app.UI, len(p.namespaces))
	for i, n := range p.namespaces {
		rows[i] = app.Tr().DataSet("namespace", n.Name).Body(
			app.Td().Body(app.A().Href(namespaceURL(n.Name)).Text(n.Name+"/")),
			app.Td().Text(n.Kind+" "+n.Owner),
			app.Td().Text(map[bool]string{true: "public", false: "private"}[n.Public]),
			app.Td().Text(n.Description),
		)
	}
	return accessTable("namespaces", "Namespaces", []string{"Namespace", "Owner", "Visibility", "Description"}, rows)
}

// namespacePage shows a namespace: who may do what in it, its public flag and its robots.
// Owners and administrators change them; others see what they may read.
type namespacePage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	name    string
	state   loadState
	err     error
	ns      api.Namespace
	robots  []api.Robot
	manage  bool // the robots could be listed: the caller manages the namespace

	user, role           string
	robotName, robotRole string
	robotExpires         string
	created              *api.RobotCreated // shown once, until Done
	copied               bool
	formErr, robotErr    string
	announce             string
	gen                  int
}

func (p *namespacePage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *namespacePage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	p.name = strings.TrimPrefix(ctx.Page().URL().Path, Path("/access/namespaces/"))
	ctx.Page().SetTitle("Namespace %s · Berth", p.name)
	p.role, p.robotRole, p.robotExpires = "developer", "developer", "90d"
	p.load(ctx)
}

// namespaceView is a namespace with its robots, when the caller may see them.
type namespaceView struct {
	ns     api.Namespace
	robots []api.Robot
	manage bool
}

func (p *namespacePage) load(ctx app.Context) {
	p.gen++
	gen, name := p.gen, p.name
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (namespaceView, error) {
		ns, err := a.Namespace(c, name)
		if err != nil {
			return namespaceView{}, err
		}
		// Only owners and administrators may list robots; for others it is a 403, not a failure.
		robots, rerr := a.Robots(c, name)
		return namespaceView{ns: ns, robots: robots, manage: rerr == nil}, nil
	}, func(ctx app.Context, v namespaceView, err error) {
		if gen != p.gen {
			return
		}
		p.ns, p.robots, p.manage, p.err, p.state = v.ns, v.robots, v.manage, err, loaded
		if err != nil {
			p.state = failed
		}
	})
}

func (p *namespacePage) setMember(ctx app.Context, user, role string) {
	name := p.name
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.Namespace, error) {
		return a.SetNamespaceMember(c, name, user, role)
	}, func(ctx app.Context, n api.Namespace, err error) {
		if err != nil {
			p.formErr = err.Error()
			return
		}
		p.ns, p.formErr, p.user = n, "", ""
		clearFields("ns-member-user")
		p.announce = map[bool]string{true: user + " removed.", false: user + " is " + role + " now."}[role == ""]
	})
}

func (p *namespacePage) setPublic(ctx app.Context, e app.Event) {
	public := ctx.JSSrc().Get("checked").Bool()
	name := p.name
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.Namespace, error) {
		return a.UpdateNamespace(c, name, api.NamespaceRequest{Public: &public})
	}, func(ctx app.Context, n api.Namespace, err error) {
		if err != nil {
			p.formErr = err.Error()
			return
		}
		p.ns.Public, p.formErr = n.Public, ""
		p.announce = map[bool]string{true: name + " is public: anyone may pull.", false: name + " is private."}[n.Public]
	})
}

func (p *namespacePage) createRobot(ctx app.Context, e app.Event) {
	e.PreventDefault()
	name := p.name
	req := api.RobotRequest{Name: strings.TrimSpace(p.robotName), Role: p.robotRole, ExpiresIn: p.robotExpires}
	p.robotErr = ""
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.RobotCreated, error) {
		return a.CreateRobot(c, name, req)
	},
		func(ctx app.Context, r api.RobotCreated, err error) {
			if err != nil {
				p.robotErr = err.Error()
				return
			}
			p.created, p.copied, p.robotName = &r, false, ""
			clearFields("robot-name")
			p.load(ctx)
		})
}

func (p *namespacePage) revokeRobot(account string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		name := p.name
		ctx = p.home.of(ctx)
		callAccounts(ctx, func(c context.Context, a client.Accounts) (struct{}, error) {
			return struct{}{}, a.RevokeRobot(c, name, account)
		}, func(ctx app.Context, _ struct{}, err error) {
			if err != nil {
				p.robotErr = err.Error()
				return
			}
			p.announce = account + " revoked."
			p.load(ctx)
		})
	}
}

func (p *namespacePage) Render() app.UI {
	var body []app.UI
	switch {
	case p.state == failed:
		body = []app.UI{failure(p.err, p.load)}
	case p.state == loading && p.ns.Name == "":
		body = []app.UI{loadingView("the namespace")}
	default:
		body = []app.UI{p.renderSettings(), p.renderMembers(), p.renderRobots()}
	}
	body = append(body, app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce))
	return accessPage(p.session, "namespaces", "Namespace "+p.name, body...)
}

func (p *namespacePage) renderSettings() app.UI {
	owner := p.ns.Kind + " " + p.ns.Owner
	if p.ns.Kind == "team" {
		owner = "team "
	}
	return app.Div().Class("card").ID("namespace-settings").Body(
		app.P().Body(
			app.Text("Owned by "+owner),
			app.If(p.ns.Kind == "team", func() app.UI { return app.A().Href(teamURL(p.ns.Owner)).Text(p.ns.Owner) }),
			app.Text(". "),
			app.A().Href(Path("/")+"?q="+url.QueryEscape(p.name+"/")).Text("Its repositories"),
			app.If(p.manage, func() app.UI {
				return app.Span().Body(app.Text(" · "), app.A().ID("ns-policies").Href(policiesURL(p.name)).Text("Immutable tags and quota"),
					app.Text(" · "), app.A().ID("ns-automation").Href(automationURL(p.name)).Text("Webhooks and retention"))
			}),
		),
		app.If(p.ns.Description != "", func() app.UI { return app.P().Class("hint").Text(p.ns.Description) }),
		app.Label().Class("check").Body(
			app.Input().Type("checkbox").ID("namespace-public").Checked(p.ns.Public).Disabled(!p.manage).OnChange(p.setPublic),
			app.Text("Public: anyone, signed in or not, may pull"),
		),
	)
}

func (p *namespacePage) renderMembers() app.UI {
	rows := make([]app.UI, len(p.ns.Members))
	for i, m := range p.ns.Members {
		user := m.User
		var role, remove app.UI = app.Text(m.Role), nil
		if p.manage {
			role = roleSelect("ns-role-"+user, "Role of "+user, m.Role, func(ctx app.Context, e app.Event) {
				p.setMember(ctx, user, ctx.JSSrc().Get("value").String())
			})
			remove = app.Button().Class("button small danger").Text("Remove").Aria("label", "Remove "+user).
				OnClick(func(ctx app.Context, e app.Event) { p.setMember(ctx, user, "") }, app.EventScope(user))
		}
		rows[i] = app.Tr().DataSet("member", user).Body(app.Td().Text(user), app.Td().Body(role), app.Td().Class("actions").Body(remove))
	}
	var members app.UI = emptyView("No direct members", "Team members hold their team role here; add others one by one.")
	if len(rows) > 0 {
		members = accessTable("ns-members", "Members of "+p.name, []string{"User", "Role", ""}, rows)
	}
	return app.Section().Class("access-section").Aria("label", "Members").Body(
		app.H2().Text("Members"),
		app.If(p.manage, func() app.UI {
			return app.Form().Class("card access-form").ID("ns-member-form").OnSubmit(func(ctx app.Context, e app.Event) {
				e.PreventDefault()
				p.setMember(ctx, strings.TrimSpace(p.user), p.role)
			}).Body(
				app.Div().Class("form-row").Body(
					app.Label().For("ns-member-user").Text("User"),
					app.Input().ID("ns-member-user").Required(true).Value(p.user).OnInput(p.ValueTo(&p.user)),
					app.Label().For("ns-member-role").Text("Role"),
					roleSelect("ns-member-role", "Role", p.role, p.ValueTo(&p.role)),
					app.Button().Type("submit").Class("button").ID("ns-member-add").Text("Add member"),
				),
				formError(p.formErr),
			)
		}),
		members,
	)
}

func (p *namespacePage) renderRobots() app.UI {
	if !p.manage {
		return nil
	}
	created := secretOnce("new-robot", "", "", "", false, nil, nil)
	if p.created != nil {
		created = secretOnce("new-robot", "New robot "+p.created.Account, p.created.Account, p.created.Secret, p.copied,
			func(ctx app.Context, e app.Event) { copyToClipboard(p.created.Secret); p.copied = true },
			func(ctx app.Context, e app.Event) { p.created, p.copied = nil, false })
	}
	rows := make([]app.UI, len(p.robots))
	for i, r := range p.robots {
		status := "active"
		if r.Revoked != nil {
			status = "revoked " + when(r.Revoked, "")
		}
		rows[i] = app.Tr().DataSet("robot", r.Account).Body(
			app.Td().Class("break").Text(r.Account),
			app.Td().Text(r.Role),
			app.Td().Text(when(r.Expires, "never")),
			app.Td().Text(when(r.LastUsed, "never")),
			app.Td().Class("actions").Body(revokeOr(status, "Revoke "+r.Account, r.Account, p.revokeRobot(r.Account))),
		)
	}
	var list app.UI = emptyView("No robots", "Robots are accounts for CI and deployments, limited to this namespace.")
	if len(rows) > 0 {
		list = accessTable("robots", "Robots of "+p.name, []string{"Account", "Role", "Expires", "Last used", ""}, rows)
	}
	return app.Section().Class("access-section").Aria("label", "Robots").Body(
		app.H2().Text("Robots"),
		created,
		app.Form().Class("card access-form").ID("robot-form").OnSubmit(p.createRobot).Body(
			app.Div().Class("form-row").Body(
				app.Label().For("robot-name").Text("Name"),
				app.Input().ID("robot-name").Required(true).MaxLength(64).Value(p.robotName).Placeholder("ci").OnInput(p.ValueTo(&p.robotName)),
				app.Label().For("robot-role").Text("Role"),
				roleSelect("robot-role", "Role", p.robotRole, p.ValueTo(&p.robotRole)),
				app.Label().For("robot-expires").Text("Expires in"),
				expirySelect("robot-expires", p.robotExpires, p.ValueTo(&p.robotExpires)),
				app.Button().Type("submit").Class("button").ID("robot-create").Text("Create robot"),
			),
			formError(p.robotErr),
		),
		list,
	)
}
