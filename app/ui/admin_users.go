package ui

import (
	"context"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// usersPage is the administrators' list of local accounts: add a user, disable or enable
// one, make one an administrator or not.
type usersPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	state   loadState
	err     error
	users   []api.User

	name, password string
	admin          bool
	busy           bool
	formErr        string
	announce       string
	gen            int
}

func (p *usersPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *usersPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Users · Berth")
	p.load(ctx)
}

func (p *usersPage) load(ctx app.Context) {
	p.gen++
	gen := p.gen
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) ([]api.User, error) { return a.Users(c) },
		func(ctx app.Context, us []api.User, err error) {
			if gen != p.gen {
				return
			}
			p.users, p.err, p.state = us, err, loaded
			if err != nil {
				p.state = failed
			}
		})
}

func (p *usersPage) create(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	pw, admin := p.password, p.admin
	req := api.UserRequest{Name: strings.TrimSpace(p.name), Password: &pw, Admin: &admin}
	p.busy, p.formErr = true, ""
	// The password goes with this request only; the field is emptied at once.
	p.password = ""
	clearFields("user-password")
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.User, error) { return a.CreateUser(c, req) },
		func(ctx app.Context, u api.User, err error) {
			p.busy = false
			if err != nil {
				p.formErr = err.Error()
				return
			}
			p.name, p.admin, p.announce = "", false, "User "+u.Name+" added."
			clearFields("user-name")
			p.load(ctx)
		})
}

// change PATCHes one user and says what happened.
func (p *usersPage) change(name string, req api.UserRequest, done string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		ctx = p.home.of(ctx)
		callAccounts(ctx, func(c context.Context, a client.Accounts) (api.User, error) { return a.UpdateUser(c, name, req) },
			func(ctx app.Context, _ api.User, err error) {
				if err != nil {
					p.formErr = err.Error()
					return
				}
				p.formErr, p.announce = "", done
				p.load(ctx)
			})
	}
}

func (p *usersPage) Render() app.UI {
	return accessPage(p.session, "users", "Users",
		app.Form().Class("card access-form").ID("user-form").OnSubmit(p.create).Body(
			app.H2().Text("Add a user"),
			app.Div().Class("form-row").Body(
				app.Label().For("user-name").Text("Name"),
				app.Input().ID("user-name").Required(true).MaxLength(64).AutoComplete(false).Value(p.name).OnInput(p.ValueTo(&p.name)),
				app.Label().For("user-password").Text("Password"),
				app.Input().ID("user-password").Type("password").Required(true).Attr("autocomplete", "new-password").Value(p.password).OnInput(p.ValueTo(&p.password)),
				app.Label().Class("check").Body(
					app.Input().Type("checkbox").ID("user-admin").Checked(p.admin).OnChange(func(ctx app.Context, e app.Event) {
						p.admin = ctx.JSSrc().Get("checked").Bool()
					}),
					app.Text("Administrator"),
				),
				app.Button().Type("submit").Class("button").ID("user-create").Disabled(p.busy).Text("Add user"),
			),
			formError(p.formErr),
		),
		app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(p.announce),
		p.renderList(),
	)
}

func (p *usersPage) renderList() app.UI {
	switch p.state {
	case loading:
		if p.users == nil {
			return loadingView("users")
		}
	case failed:
		return failure(p.err, p.load)
	}
	rows := make([]app.UI, len(p.users))
	for i, u := range p.users {
		yes, no := true, false
		var status []app.UI
		if u.Admin {
			status = append(status, app.Span().Class("chip").Text("administrator"))
		}
		if u.Disabled {
			status = append(status, app.Span().Class("chip warn").Text("disabled"))
		}
		self := u.Name == p.session.User
		var actions []app.UI
		if !self {
			if u.Disabled {
				actions = append(actions, app.Button().Class("button small").Text("Enable").Aria("label", "Enable "+u.Name).
					OnClick(p.change(u.Name, api.UserRequest{Disabled: &no}, u.Name+" enabled."), app.EventScope("enable"+u.Name)))
			} else {
				actions = append(actions, app.Button().Class("button small danger").Text("Disable").Aria("label", "Disable "+u.Name).
					OnClick(p.change(u.Name, api.UserRequest{Disabled: &yes}, u.Name+" disabled."), app.EventScope("disable"+u.Name)))
			}
			if u.Admin {
				actions = append(actions, app.Button().Class("button small").Text("Remove admin").Aria("label", "Remove admin "+u.Name).
					OnClick(p.change(u.Name, api.UserRequest{Admin: &no}, u.Name+" is no longer an administrator."), app.EventScope("unadmin"+u.Name)))
			} else {
				actions = append(actions, app.Button().Class("button small").Text("Make admin").Aria("label", "Make admin "+u.Name).
					OnClick(p.change(u.Name, api.UserRequest{Admin: &yes}, u.Name+" is an administrator now."), app.EventScope("admin"+u.Name)))
			}
		} else {
			actions = append(actions, app.Span().Class("muted").Text("you"))
		}
		rows[i] = app.Tr().DataSet("user", u.Name).Body(
			app.Td().Text(u.Name),
			app.Td().Body(status...),
			app.Td().Text(when(&u.Created, "")),
			app.Td().Class("actions").Body(actions...),
		)
	}
	return accessTable("users", "Users", []string{"Name", "Status", "Created", ""}, rows)
}
