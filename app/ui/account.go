package ui

import (
	"context"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// tokensPage lists the signed-in user's personal access tokens (with last use), creates one
// (shown once) and revokes them.
type tokensPage struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	session api.Session
	state   loadState
	err     error
	tokens  []api.AccessToken

	name, expires string
	readOnly      bool
	busy          bool
	formErr       string
	created       *api.TokenCreated // shown once, until Done
	copied        bool
	gen           int
}

func (p *tokensPage) OnMount(ctx app.Context) {
	p.home.mount(ctx)
	sessionOf(ctx, &p.session, func(ctx app.Context) {
		if p.state == failed {
			p.load(ctx)
		}
	})
}

func (p *tokensPage) OnNav(ctx app.Context) {
	if app.IsServer {
		return
	}
	ctx.Page().SetTitle("Access tokens · Berth")
	p.expires = "90d"
	p.load(ctx)
}

func (p *tokensPage) load(ctx app.Context) {
	p.gen++
	gen := p.gen
	p.state = loading
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) ([]api.AccessToken, error) { return a.Tokens(c) },
		func(ctx app.Context, ts []api.AccessToken, err error) {
			if gen != p.gen {
				return
			}
			p.tokens, p.err, p.state = ts, err, loaded
			if err != nil {
				p.state = failed
			}
		})
}

func (p *tokensPage) create(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if p.busy {
		return
	}
	req := api.TokenRequest{Name: strings.TrimSpace(p.name), ExpiresIn: p.expires, ReadOnly: p.readOnly}
	p.busy, p.formErr = true, ""
	ctx = p.home.of(ctx)
	callAccounts(ctx, func(c context.Context, a client.Accounts) (api.TokenCreated, error) { return a.CreateToken(c, req) },
		func(ctx app.Context, t api.TokenCreated, err error) {
			p.busy = false
			if err != nil {
				p.formErr = err.Error()
				return
			}
			p.created, p.copied, p.name, p.readOnly = &t, false, "", false
			clearFields("token-name")
			p.load(ctx)
		})
}

func (p *tokensPage) revoke(id string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		ctx = p.home.of(ctx)
		callAccounts(ctx, func(c context.Context, a client.Accounts) (struct{}, error) { return struct{}{}, a.RevokeToken(c, id) },
			func(ctx app.Context, _ struct{}, err error) {
				if err != nil {
					p.formErr = err.Error()
					return
				}
				p.load(ctx)
			})
	}
}

func (p *tokensPage) Render() app.UI {
	created := secretOnce("new-token", "", "", "", false, nil, nil)
	if p.created != nil {
		created = secretOnce("new-token", "New token “"+p.created.Name+"”", "", p.created.Token, p.copied,
			func(ctx app.Context, e app.Event) { copyToClipboard(p.created.Token); p.copied = true },
			func(ctx app.Context, e app.Event) { p.created, p.copied = nil, false })
	}
	return accessPage(p.session, "tokens", "Access tokens",
		app.P().Class("hint").Text("Personal access tokens act as you for docker login, scripts and CI; a read-only one can only pull."),
		created,
		app.Form().Class("card access-form").ID("token-form").OnSubmit(p.create).Body(
			app.H2().Text("New token"),
			app.Div().Class("form-row").Body(
				app.Label().For("token-name").Text("Name"),
				app.Input().ID("token-name").Required(true).MaxLength(64).Value(p.name).Placeholder("laptop, ci…").OnInput(p.ValueTo(&p.name)),
				app.Label().For("token-expires").Text("Expires in"),
				expirySelect("token-expires", p.expires, p.ValueTo(&p.expires)),
				app.Label().Class("check").Body(
					app.Input().Type("checkbox").ID("token-readonly").Checked(p.readOnly).OnChange(func(ctx app.Context, e app.Event) {
						p.readOnly = ctx.JSSrc().Get("checked").Bool()
					}),
					app.Text("Read-only (pull)"),
				),
				app.Button().Type("submit").Class("button").ID("token-create").Disabled(p.busy).Text("Create token"),
			),
			formError(p.formErr),
		),
		p.renderList(),
	)
}

func (p *tokensPage) renderList() app.UI {
	switch p.state {
	case loading:
		if p.tokens == nil {
			return loadingView("tokens")
		}
	case failed:
		return failure(p.err, p.load)
	}
	if len(p.tokens) == 0 {
		return emptyView("No tokens yet", "Create one above for docker login or CI.")
	}
	rows := make([]app.UI, len(p.tokens))
	for i, t := range p.tokens {
		status := "active"
		if t.Revoked != nil {
			status = "revoked " + when(t.Revoked, "")
		}
		lastUsed := when(t.LastUsed, "never")
		if t.LastAddr != "" {
			lastUsed += " from " + t.LastAddr
		}
		rows[i] = app.Tr().DataSet("token", t.Name).Body(
			app.Td().Text(t.Name),
			app.Td().Text(map[bool]string{true: "pull only", false: "as you"}[t.ReadOnly]),
			app.Td().Text(when(&t.Created, "")),
			app.Td().Text(when(t.Expires, "never")),
			app.Td().Text(lastUsed),
			app.Td().Class("actions").Body(revokeOr(status, "Revoke token "+t.Name, t.ID, p.revoke(t.ID))),
		)
	}
	return accessTable("tokens", "Your access tokens", []string{"Name", "Rights", "Created", "Expires", "Last used", ""}, rows)
}

// accessTable is a table of the account pages, scrolling inside its box on narrow screens.
func accessTable(id, caption string, heads []string, rows []app.UI) app.UI {
	ths := make([]app.UI, len(heads))
	for i, h := range heads {
		if h == "" {
			ths[i] = app.Th().Body(srOnly("Actions"))
			continue
		}
		ths[i] = app.Th().Scope("col").Text(h)
	}
	return app.Div().Class("table-wrap").Role("region").Aria("label", caption).TabIndex(0).Body(
		app.Table().Class("tags access-table").ID(id).Body(
			app.Caption().Class("sr-only").Text(caption),
			app.THead().Body(app.Tr().Body(ths...)),
			app.TBody().Body(rows...),
		),
	)
}

// revokeOr is a revoke button while status is "active", the status otherwise.
func revokeOr(status, label, scope string, revoke app.EventHandler) app.UI {
	if status != "active" {
		return app.Span().Class("muted").Text(status)
	}
	return app.Button().Class("button small danger").Text("Revoke").Aria("label", label).OnClick(revoke, app.EventScope(scope))
}
