package ui

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// The account pages (access control): personal access tokens, teams, namespaces with their
// members and robots, and for administrators users and the audit log. They show only when
// the server says access control is on (GET /api/v1/session); the server decides every
// request anyway.

// stateSession is the go-app state holding the last session answer (api.Session): who is
// signed in, whether access control is on and whether they are an administrator.
const stateSession = "berth.session"

// roles are the namespace and team roles, weakest first.
var roles = []string{"viewer", "developer", "maintainer", "owner"}

// expiries are the lifetimes offered for new tokens and robots; "" is the longest the server
// allows (robots: no expiry; tokens: --pat-max-age).
var expiries = []struct{ value, label string }{
	{"30d", "30 days"}, {"90d", "90 days"}, {"365d", "1 year"}, {"7d", "7 days"}, {"", "Longest allowed"},
}

// accessRoutes registers the account pages; Routes calls it before its catch-all.
func accessRoutes() {
	app.Route("/signin", func() app.Composer { return &signInPage{} })
	app.Route("/auth/callback", func() app.Composer { return &callbackPage{} }) // static_signin.go
	app.Route("/access", func() app.Composer { return &tokensPage{} })
	app.Route("/access/tokens", func() app.Composer { return &tokensPage{} })
	app.Route("/access/users", func() app.Composer { return &usersPage{} })
	app.Route("/access/teams", func() app.Composer { return &teamsPage{} })
	app.RouteWithRegexp(`^/access/teams/[^/]+$`, func() app.Composer { return &teamPage{} })
	app.Route("/access/namespaces", func() app.Composer { return &namespacesPage{} })
	app.RouteWithRegexp(`^/access/namespaces/[^/]+$`, func() app.Composer { return &namespacePage{} })
	app.RouteWithRegexp(`^/access/namespaces/[^/]+/policies$`, func() app.Composer { return &policiesPage{} })
	app.RouteWithRegexp(`^/access/namespaces/[^/]+/automation$`, func() app.Composer { return &automationPage{} })
	app.Route("/access/audit", func() app.Composer { return &auditPage{} })
}

// accounts is the account API, when the UI talks to Berth (not a registry directly).
func accounts() (client.Accounts, bool) {
	a, ok := apiClient().(client.Accounts)
	return a, ok
}

// callAccounts runs fn against the account API off the UI goroutine and hands the result to
// done inside Dispatch, where state may change.
func callAccounts[T any](ctx app.Context, fn func(c context.Context, a client.Accounts) (T, error), done func(ctx app.Context, v T, err error)) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var v T
		a, ok := accounts()
		err := error(&api.Error{Code: api.CodeNotFound, Message: "Access control needs a Berth server; this UI reads a registry directly."})
		if ok {
			v, err = fn(c, a)
		}
		ctx.Dispatch(func(ctx app.Context) { done(ctx, v, err) })
	})
}

// accessTab is one entry of the account pages' navigation.
type accessTab struct {
	id, label, path string
	admin           bool
}

var accessTabs = []accessTab{
	{"tokens", "Access tokens", "/access/tokens", false},
	{"teams", "Teams", "/access/teams", false},
	{"namespaces", "Namespaces", "/access/namespaces", false},
	{"users", "Users", "/access/users", true},
	{"audit", "Audit", "/access/audit", true},
	{"replication", "Replication", "/replication", true}, // replication.go
}

// accessPage is the frame of the account pages: breadcrumbs, the pages' navigation (the
// administrators' pages for administrators only) and the content.
func accessPage(s api.Session, current, title string, content ...app.UI) app.UI {
	var links []app.UI
	for _, t := range accessTabs {
		if t.admin && !s.Admin {
			continue
		}
		a := app.A().Class("tab").Href(Path(t.path)).Text(t.label)
		if t.id == current {
			a = a.Class("selected").Aria("current", "page")
		}
		links = append(links, a)
	}
	body := append([]app.UI{
		app.Div().Class("page-head").Body(app.H1().Text(title)),
		app.Nav().Class("tabs access-tabs").Aria("label", "Access control").Body(links...),
	}, content...)
	return page([]crumb{{label: "Access", href: Path("/access")}, {label: title}}, body...)
}

// roleSelect is a labelled select of the four roles.
func roleSelect(id, label, value string, onChange app.EventHandler) app.HTMLSelect {
	opts := make([]app.UI, len(roles))
	for i, r := range roles {
		opts[i] = app.Option().Value(r).Text(r).Selected(r == value)
	}
	return app.Select().ID(id).Class("filter").Aria("label", label).Body(opts...).OnChange(onChange, app.EventScope(id+value))
}

// expirySelect is a labelled select of token lifetimes.
func expirySelect(id, value string, onChange app.EventHandler) app.UI {
	opts := make([]app.UI, len(expiries))
	for i, e := range expiries {
		opts[i] = app.Option().Value(e.value).Text(e.label).Selected(e.value == value)
	}
	return app.Select().ID(id).Class("filter").Body(opts...).OnChange(onChange)
}

// secretOnce shows a new secret (a token, a robot's password) the one time the server sends
// it, with a copy button; it is never stored, and closing it forgets it.
func secretOnce(id, title, account, secret string, copied bool, onCopy, onDone app.EventHandler) app.UI {
	if secret == "" {
		// The slot stays in the page, so the elements after it are not replaced when a
		// secret shows: go-app drops the updates dispatched from a replaced element.
		return app.Div().Class("secret-slot")
	}
	copyLabel := "Copy"
	if copied {
		copyLabel = "Copied"
	}
	return app.Div().Class("secret-slot").Body(app.Div().Class("card secret-once").ID(id).Role("region").Aria("label", title).Body(
		app.H2().Text(title),
		app.P().Class("hint").Text("Copy it now: it is shown only this once and Berth keeps only its hash."),
		app.If(account != "", func() app.UI {
			return app.P().Body(app.Text("Account: "), app.Code().Class("break").Text(account))
		}),
		app.Div().Class("copy").Body(
			app.Code().Class("break secret").ID(id+"-value").Text(secret),
			app.Button().Type("button").Class("button small").ID(id+"-copy").Text(copyLabel).OnClick(onCopy),
		),
		app.Div().Class("sr-only").Role("status").Aria("live", "polite").Text(map[bool]string{true: "Copied to the clipboard"}[copied]),
		app.Button().Type("button").Class("button").ID(id+"-done").Text("Done").OnClick(onDone),
	))
}

// when formats an optional time ("never" when unset).
func when(t *time.Time, never string) string {
	if t == nil || t.IsZero() {
		return never
	}
	return t.Local().Format("2 Jan 2006 15:04")
}

// formError is a form's error message, announced.
func formError(msg string) app.UI {
	if msg == "" {
		return nil
	}
	return app.P().Class("error-message").Role("alert").Text(msg)
}

// sessionOf observes the session state into s and calls changed when it changes.
func sessionOf(ctx app.Context, s *api.Session, changed func(ctx app.Context)) {
	ctx.ObserveState(stateSession, s).OnChange(func() { changed(ctx) })
}

// clearFields empties form fields in the page: go-app leaves an input's typed value alone
// when the state it renders from goes back to what it rendered last.
func clearFields(ids ...string) {
	for _, id := range ids {
		if f := app.Window().GetElementByID(id); f.Truthy() {
			f.Set("value", "")
		}
	}
}
