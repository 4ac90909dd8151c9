package ui

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// stateUser is the go-app state holding the signed-in user's name ("" when nobody is), so the
// header learns of a sign-in made by a page's form.
const stateUser = "berth.user"

// signInForm asks for registry credentials when the registry answered 401. The server checks
// them against the registry and keeps them; the browser only gets an HttpOnly cookie.
type signInForm struct {
	app.Compo
	home // its own context: answers to its events land though a render replaced their element

	// Reason is why sign-in is needed, from the API's error message.
	Reason string
	// Untitled leaves out the form's heading: the sign-in page has its own.
	Untitled bool

	username string
	password string
	busy     bool
	err      string
	session  api.Session // offers OpenID Connect when the server has it
}

func (f *signInForm) OnMount(ctx app.Context) {
	f.home.mount(ctx)
	ctx.ObserveState(stateSession, &f.session)
}

func (f *signInForm) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if f.busy {
		return
	}
	f.busy, f.err = true, ""
	user, pass := f.username, f.password
	ctx = f.home.of(ctx)
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
		app.If(!f.Untitled, func() app.UI { return app.H2().Text("Sign in to the registry") }),
		app.P().Class("hint").Text(f.Reason+" "+map[bool]string{
			false: "Berth checks your credentials with the registry and keeps them on the server only.",
			true:  "Berth checks your password or access token and keeps your session on the server only.",
		}[f.session.AccessControl]),
		app.Label().For("signin-user").Text("Username"),
		app.Input().ID("signin-user").Name("username").AutoComplete(true).Required(true).AutoFocus(true).Value(f.username).
			OnInput(f.ValueTo(&f.username)),
		app.Label().For("signin-password").Text("Password or token"),
		app.Input().ID("signin-password").Type("password").Name("password").Required(true).Value(f.password).
			OnInput(f.ValueTo(&f.password)),
		app.If(f.err != "", func() app.UI {
			return app.P().Class("error-message").Role("alert").Text(f.err)
		}),
		app.Button().Class("button").Type("submit").Disabled(f.busy).Text(label),
		app.If(f.session.OIDC, func() app.UI {
			return app.A().Class("button secondary").ID("signin-oidc").Href(oidcLoginURL()).Text("Sign in with OIDC").
				OnClick(func(ctx app.Context, e app.Event) {
					// A page load, not go-app's navigation within the app: the app has no page at
					// /auth/oidc/login (it would show "Page not found"), the server has.
					e.PreventDefault()
					e.StopImmediatePropagation()
					app.Window().Get("location").Call("assign", oidcLoginURL())
				})
		}),
	)
}

// oidcLoginURL starts the OpenID Connect sign-in, which comes back to this page.
func oidcLoginURL() string {
	ret := currentPath()
	if back := app.Window().URL(); back.Path == Path("/signin") {
		ret = returnPath(back)
	}
	return strings.TrimRight(app.Getenv(EnvAPIURL), "/") + "/auth/oidc/login?return=" + url.QueryEscape(ret)
}

// returnPath is where the sign-in page goes once signed in: its return parameter when that
// is a path on this site (the server's auth.SafeReturn rule: never another site), the
// catalog otherwise.
func returnPath(u *url.URL) string {
	r := u.Query().Get("return")
	if r == "" || r[0] != '/' || strings.HasPrefix(r, "//") || strings.ContainsAny(r, "\\\x00\r\n\t") {
		return Path("/")
	}
	if p, err := url.Parse(r); err != nil || p.Scheme != "" || p.Host != "" || p.User != nil || p.Opaque != "" {
		return Path("/")
	}
	return r
}

// userMenu shows who is signed in, with a sign-out button, and with access control the
// way to the account pages or to the sign-in page.
type userMenu struct {
	app.Compo
	home    // its own context: answers to its events land though a render replaced their element
	user    string
	session api.Session
}

func (u *userMenu) OnMount(ctx app.Context) {
	u.home.mount(ctx)
	ctx.ObserveState(stateSession, &u.session)
	// A sign-in made by a form answers only the user's name: ask again for the rest.
	ctx.ObserveState(stateUser, &u.user).OnChange(func() {
		if u.user != u.session.User {
			u.fetch(ctx)
		}
	})
	u.fetch(ctx)
}

// fetch asks the server who is signed in and what the UI may offer them.
func (u *userMenu) fetch(ctx app.Context) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		s, err := apiClient().Session(c)
		if err != nil {
			return // offline or no server: nothing to show
		}
		ctx.Dispatch(func(ctx app.Context) {
			ctx.SetState(stateSession, s)
			ctx.SetState(stateUser, s.User)
			// A static site signed in before this reload: sign in again (Berth's own
			// session makes it two redirects); tokens never outlive the page.
			if staticSite() && s.User == "" && s.AccessControl && !client.SignedInWithToken() &&
				sessionStorage().Call("getItem", oauthActive).Truthy() && ctx.Page().URL().Path != Path("/auth/callback") {
				startStaticSignIn(currentPath(), func(string) { sessionStorage().Call("removeItem", oauthActive) })
			}
		})
	})
}

// currentPath is the address shown, path and query, to come back to after signing in.
func currentPath() string {
	here := app.Window().URL()
	if here.RawQuery != "" {
		return here.Path + "?" + here.RawQuery
	}
	return here.Path
}

func (u *userMenu) Render() app.UI {
	if u.user == "" {
		if !u.session.AccessControl {
			return app.Span().Class("user-menu")
		}
		if staticSite() { // another origin: OAuth with PKCE against Berth (static_signin.go)
			return app.Span().Class("user-menu").Body(
				app.Button().Class("button small").ID("signin-link").Text("Sign in").OnClick(func(ctx app.Context, e app.Event) {
					startStaticSignIn(currentPath(), func(msg string) { app.Window().Call("alert", msg) })
				}),
			)
		}
		return app.Span().Class("user-menu").Body(
			navLink("signin-link", Path("/signin")+"?return="+url.QueryEscape(currentPath()), "signin", "Sign in"),
		)
	}
	return app.Span().Class("user-menu").Body(
		app.If(u.session.AccessControl, func() app.UI {
			return navLink("access-link", Path("/access"), "access", "Access")
		}),
		app.Span().Class("hint signed-in-as").Text("Signed in as "),
		app.Strong().ID("signed-in-user").Text(u.user),
		app.Button().Class("button small signout").ID("signout").Title("Sign out").Body(navBody("signout", "Sign out")...).OnClick(func(ctx app.Context, e app.Event) {
			ctx = u.home.of(ctx)
			ctx.Async(func() {
				c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				_ = apiClient().SignOut(c) // drops every page saved for offline use
				ctx.Dispatch(func(ctx app.Context) {
					if staticSite() {
						sessionStorage().Call("removeItem", oauthActive)
					}
					ctx.SetState(stateUser, "")
					ctx.SetState(stateSession, api.Session{})
					ctx.Reload()
				})
			})
		}),
	)
}

// signInPage is the sign-in page the header links to when access control is on: the
// username and password form and, when configured, OpenID Connect. Once signed in it goes
// back to where the user came from.
type signInPage struct {
	app.Compo
	user string
}

func (p *signInPage) OnMount(ctx app.Context) {
	ctx.ObserveState(stateUser, &p.user).OnChange(func() {
		if p.user == "" {
			return
		}
		ret := returnPath(ctx.Page().URL())
		if strings.HasPrefix(ret, "/auth/") { // Berth's endpoints, such as a static site's /auth/authorize
			app.Window().Get("location").Call("assign", ret)
			return
		}
		ctx.Navigate(ret)
	})
}

func (p *signInPage) OnNav(ctx app.Context) {
	ctx.Page().SetTitle("Sign in · Berth")
	focusFilter(ctx, "signin-user") // the page is opened to type a name
}

func (p *signInPage) Render() app.UI {
	return page([]crumb{{label: "Sign in"}},
		app.Div().Class("page-head").Body(app.H1().Text("Sign in")),
		&signInForm{Reason: "Sign in to see your repositories and manage access.", Untitled: true},
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
