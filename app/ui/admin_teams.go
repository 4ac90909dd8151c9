package ui

import (
	"context"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// teamsPage lists the teams the user is in (administrators: all) and creates one; the
// creator owns it, and the team owns the namespace of its name.
type teamsPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	state   loadState
	err     error
	teams   []api.Team

	name, description string
	busy              bool
	formErr           string
	gen               int
}

func (p *teamsPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *teamsPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Teams · Berth")
	p.load(ctx)
}

func (p *teamsPage) load(ctx app.Context) {
	p.gen++
	gen := p.gen
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) ([]api.Team, error) { return a.Teams(c) },
		func(ctx app.Context, ts []api.Team, err error) {
			if gen != p.gen {
				return
			}
			p.teams, p.err, p.state = ts, err, loaded
			if err != nil {
				p.state = failed
			}
		})
}

func (p *teamsPage) create(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	t := api.Team{Name: strings.TrimSpace(p.name), Description: strings.TrimSpace(p.description)}
	p.busy, p.formErr = true, ""
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.Team, error) { return a.CreateTeam(c, t) },
		func(ctx app.Context, t api.Team, err error) {
			p.busy = false
			if err != nil {
				p.formErr = err.Error()
				return
			}
			ctx.Navigate(teamURL(t.Name))
		})
}

func teamURL(name string) string { return Path("/access/teams/" + name) }

func (p *teamsPage) Render() app.UI {
	return accessPage(p.session, "teams", "Teams",
		app.Form().Class("card access-form").ID("team-form").OnSubmit(p.create).Body(
			app.H2().Text("New team"),
			app.P().Class("hint").Text("You own the teams you create; a team owns the namespace of its name."),
			app.Div().Class("form-row").Body(
				app.Label().For("team-name").Text("Name"),
				app.Input().ID("team-name").Required(true).MaxLength(64).Value(p.name).OnInput(p.ValueTo(&p.name)),
				app.Label().For("team-description").Text("Description"),
				app.Input().ID("team-description").Value(p.description).OnInput(p.ValueTo(&p.description)),
				app.Button().Type("submit").Class("button").ID("team-create").Disabled(p.busy).Text("Create team"),
			),
			formError(p.formErr),
		),
		p.renderList(),
	)
}

func (p *teamsPage) renderList() app.UI {
	switch p.state {
	case loading:
		if p.teams == nil {
			return loadingView("teams")
		}
	case failed:
		return failure(p.err, p.load)
	}
	if len(p.teams) == 0 {
		return emptyView("No teams", "You are in no team yet.")
	}
	rows := make([]app.UI, len(p.teams))
	for i, t := range p.teams {
		rows[i] = app.Tr().DataSet("team", t.Name).Body(
			app.Td().Body(app.A().Href(teamURL(t.Name)).Text(t.Name)),
			app.Td().Text(t.Description),
			app.Td().Text(when(&t.Created, "")),
		)
	}
	return accessTable("teams", "Teams", []string{"Team", "Description", "Created"}, rows)
}

// teamPage shows a team's members with their roles; owners and administrators change them.
type teamPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	name    string
	state   loadState
	err     error
	team    api.Team

	user, role string
	formErr    string
	announce   string
	gen        int
}

func (p *teamPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *teamPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	p.name = strings.TrimPrefix(ctx.Page().URL().Path, Path("/access/teams/"))
	ctx.Page().SetTitle("Team %s · Berth", p.name)
	p.role = "developer"
	p.load(ctx)
}

func (p *teamPage) load(ctx app.Context) {
	p.gen++
	gen, name := p.gen, p.name
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.Team, error) { return a.Team(c, name) },
		func(ctx app.Context, t api.Team, err error) {
			if gen != p.gen {
				return
			}
			p.team, p.err, p.state = t, err, loaded
			if err != nil {
				p.state = failed
			}
		})
}

// setMember gives user role ("" removes them) and shows the team as the server answers.
func (p *teamPage) setMember(ctx app.Context, user, role string) {
	name := p.name
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.Team, error) {
		return a.SetTeamMember(c, name, user, role)
	},
		func(ctx app.Context, t api.Team, err error) {
			if err != nil {
				p.formErr = err.Error()
				return
			}
			p.team, p.formErr = t, ""
			p.announce = map[bool]string{true: user + " removed.", false: user + " is " + role + " now."}[role == ""]
			p.user = ""
			clearFields("member-user")
		})
}

func (p *teamPage) Render() app.UI {
	var body app.UI
	switch {
	case p.state == failed:
		body = failure(p.err, p.load)
	case p.state == loading && p.team.Name == "":
		body = loadingView("the team")
	default:
		body = p.renderTeam()
	}
	return accessPage(p.session, "teams", "Team "+p.name, body)
}

func (p *teamPage) renderTeam() app.UI {
	rows := make([]app.UI, len(p.team.Members))
	for i, m := range p.team.Members {
		user := m.User
		rows[i] = app.Tr().DataSet("member", user).Body(
			app.Td().Text(user),
			app.Td().Body(roleSelect("team-role-"+user, "Role of "+user, m.Role, func(ctx app.Context, e app.Event) {
				p.setMember(ctx, user, ctx.JSSrc().Get("value").String())
			})),
			app.Td().Class("actions").Body(
				app.Button().Class("button small danger").Text("Remove").Aria("label", "Remove "+user).
					OnClick(func(ctx app.Context, e app.Event) { p.setMember(ctx, user, "") }, app.EventScope(user)),
			),
		)
	}
	return app.Div().Body(
		app.If(p.team.Description != "", func() app.UI { return app.P().Class("hint").Text(p.team.Description) }),
		app.P().Class("hint").Body(
			app.Text("The team owns the namespace "),
			app.A().Href(namespaceURL(p.name)).Text(p.name+"/"),
			app.Text("; its members hold their team role there."),
		),
		app.Form().Class("card access-form").ID("member-form").OnSubmit(func(ctx app.Context, e app.Event) {
			e.PreventDefault()
			p.setMember(ctx, strings.TrimSpace(p.user), p.role)
		}).Body(
			app.H2().Text("Add a member"),
			app.Div().Class("form-row").Body(
				app.Label().For("member-user").Text("User"),
				app.Input().ID("member-user").Required(true).Value(p.user).OnInput(p.ValueTo(&p.user)),
				app.Label().For("member-role").Text("Role"),
				roleSelect("member-role", "Role", p.role, p.ValueTo(&p.role)),
				app.Button().Type("submit").Class("button").ID("member-add").Text("Add member"),
			),
			formError(p.formErr),
		),
		app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce),
		accessTable("members", "Members of "+p.name, []string{"User", "Role", ""}, rows),
	)
}
