package ui

import (
	"context"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/client"
)

// stateUser is the go-app state holding the signed-in user's name ("" when nobody is), so the
// header learns of a sign-in made by a page's form.
const stateUser = "berth.user"

// signInForm asks for registry credentials when the registry answered 401. The server checks
// them against the registry and keeps them; the browser only gets an HttpOnly cookie.
type signInForm struct {
	app.Compo

	// Reason is why sign-in is needed, from the API's error message.
	Reason string

	username string
	password string
	busy     bool
	err      string
}

func (f *signInForm) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if f.busy {
		return
	}
	f.busy, f.err = true, ""
	user, pass := f.username, f.password
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := apiClient().SignIn(c, user, pass)
		ctx.Dispatch(func(ctx app.Context) {
			f.busy = false
			if err != nil {
				f.err = err.Error()
				return
			}
			f.password = ""
			// Pages waiting for credentials observe this state and reload themselves.
			ctx.SetState(stateUser, s.User)
		})
	})
}

func (f *signInForm) Render() app.UI {
	label := "Sign in"
	if f.busy {
		label = "Signing in…"
	}
	return app.Form().Class("card signin").ID("signin").OnSubmit(f.submit).Body(
		app.H2().Text("Sign in to the registry"),
		app.P().Class("hint").Text(f.Reason+" Berth checks your credentials with the registry and keeps them on the server only."),
		app.Label().For("signin-user").Text("Username"),
		app.Input().ID("signin-user").Name("username").AutoComplete(true).Required(true).Value(f.username).
			OnInput(f.ValueTo(&f.username)),
		app.Label().For("signin-password").Text("Password or token"),
		app.Input().ID("signin-password").Type("password").Name("password").Required(true).Value(f.password).
			OnInput(f.ValueTo(&f.password)),
		app.If(f.err != "", func() app.UI {
			return app.P().Class("error-message").Role("alert").Text(f.err)
		}),
		app.Button().Class("button").Type("submit").Disabled(f.busy).Text(label),
	)
}

// userMenu shows who is signed in, with a sign-out button.
type userMenu struct {
	app.Compo
	user string
}

func (u *userMenu) OnMount(ctx app.Context) {
	ctx.ObserveState(stateUser, &u.user)
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		s, err := apiClient().Session(c)
		if err != nil {
			return // offline or no server: nothing to show
		}
		ctx.Dispatch(func(ctx app.Context) { ctx.SetState(stateUser, s.User) })
	})
}

func (u *userMenu) Render() app.UI {
	if u.user == "" {
		return app.Span().Class("user-menu")
	}
	return app.Span().Class("user-menu").Body(
		app.Span().Class("hint").Text("Signed in as "),
		app.Strong().ID("signed-in-user").Text(u.user),
		app.Button().Class("button small").Text("Sign out").OnClick(func(ctx app.Context, e app.Event) {
			ctx.Async(func() {
				c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				_ = apiClient().SignOut(c)
				ctx.Dispatch(func(ctx app.Context) {
					ctx.SetState(stateUser, "")
					ctx.Reload()
				})
			})
		}),
	)
}

// reloadOnSignIn makes a page whose load failed (typically with 401) load again when
// someone signs in. It runs in the page's own context: the sign-in form that triggered it is
// gone by the time the page's data arrives.
func reloadOnSignIn(ctx app.Context, user *string, failed func() bool, reload func(ctx app.Context)) {
	ctx.ObserveState(stateUser, user).OnChange(func() {
		if *user != "" && failed() {
			reload(ctx)
		}
	})
}

// failure renders a failed load: the sign-in form when the registry wants credentials, or a
// readable error with a retry button.
func failure(err error, retry func(ctx app.Context)) app.UI {
	if client.Unauthorized(err) {
		return &signInForm{Reason: err.Error()}
	}
	if client.NotFound(err) {
		return notFoundView("Not found", err.Error())
	}
	return errorView(err.Error(), func(ctx app.Context, e app.Event) { retry(ctx) })
}
