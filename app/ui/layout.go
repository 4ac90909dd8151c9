package ui

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// crumb is one step of the breadcrumb trail in the header.
type crumb struct {
	label string
	href  string
}

// page renders the frame shared by every page: header with breadcrumbs, main content and
// footer.
func page(crumbs []crumb, content ...app.UI) app.UI {
	trail := []app.UI{app.A().Class("brand").Href(Path("/")).Body(
		app.Img().Src("/web/icon.svg").Role("presentation").Width(28).Height(28),
		app.Span().Class("brand-name").Text("Berth"),
	)}
	for i, c := range crumbs {
		trail = append(trail, app.Span().Class("sep").Text("/"))
		if i == len(crumbs)-1 || c.href == "" {
			trail = append(trail, app.Span().Class("crumb current").Text(c.label))
		} else {
			trail = append(trail, app.A().Class("crumb").Href(c.href).Text(c.label)) // hrefs come with the base path (Path)
		}
	}
	version := app.Getenv(EnvVersion)
	return app.Div().Class("layout").Body(
		app.Header().Class("topbar").Body(
			app.Nav().Class("trail").Aria("label", "Breadcrumb").Body(trail...),
			app.Nav().Class("site-nav").Aria("label", "Sections").Body(
				navLink("activity-link", activityURL("", ""), "activity", "Activity"),
				app.If(app.Getenv(EnvMode) != ModeDirect, func() app.UI {
					return navLink("jobs-link", Path("/jobs"), "jobs", "Jobs")
				}),
				&registrySwitcher{}, // registry.go
				&userMenu{},
			),
		),
		&statusBanner{}, // offline and new-version notices
		&shortcuts{},
		app.Main().Class("content").Body(content...),
		app.Footer().Class("footer").Body(
			app.Span().Text("Berth "+version),
		),
	)
}

// navLink is a header link: its label, or on a phone its icon (the label stays for screen
// readers and as the tooltip).
func navLink(id, href, icon, label string) app.HTMLA {
	return app.A().Class("nav-link").ID(id).Href(href).Title(label).Body(navBody(icon, label)...)
}

// navBody is an icon and a label, the label hidden on phones.
func navBody(icon, label string) []app.UI {
	return []app.UI{app.Span().Class("icon icon-"+icon).Aria("hidden", "true"), app.Span().Class("nav-label").Text(label)}
}

// loadState is where a page's data fetch stands.
type loadState int

const (
	loading loadState = iota
	loaded
	failed
)

// slot holds a part of a page that may come later (or not at all), so that its arrival does
// not shift the parts after it: go-app matches children by position, and a shift replaces
// every later element, taking keyboard focus with it. It takes no room of its own.
func slot(ui app.UI) app.UI {
	return app.Div().Class("slot").Body(ui)
}

// loadingView is the placeholder while data is on its way.
func loadingView(what string) app.UI {
	return app.Div().Class("state loading").Aria("busy", "true").Body(
		app.Span().Class("spinner").Aria("hidden", "true"),
		app.Span().Text("Loading "+what+"…"),
	)
}

// errorView shows a readable error and a retry button.
func errorView(msg string, retry app.EventHandler) app.UI {
	return app.Div().Class("state error").Role("alert").Body(
		app.P().Class("error-title").Text("Something went wrong"),
		app.P().Class("error-message").Text(msg),
		app.Button().Class("button").Text("Retry").OnClick(retry),
	)
}

// notFoundView says that what the address names does not exist, with the way back and a
// search of the catalog (a plain form: it works before app.wasm runs).
func notFoundView(title, msg string) app.UI {
	return app.Div().Class("state not-found").Role("alert").Body(
		app.P().Class("error-title").Text(title),
		app.P().Class("hint").Text(msg),
		app.Form().Class("missing-search").Action(Path("/")).Method("get").Role("search").Body(
			app.Input().Type("search").Class("search").ID("missing-search").Name("q").
				Placeholder("Search repositories…").Aria("label", "Search repositories"),
			app.Button().Type("submit").Class("button").Text("Search"),
		),
		app.P().Body(app.A().Class("button secondary").Href(Path("/")).Text("All repositories")),
	)
}

// notFoundPage is the page for addresses no route matches.
type notFoundPage struct{ app.Compo }

// OnPreRender makes the server answer the page with 404.
func (p *notFoundPage) OnPreRender(ctx app.Context) {
	ctx.Page().SetTitle("Not found · Berth")
	markMissing(ctx)
}

func (p *notFoundPage) Render() app.UI {
	return page([]crumb{{label: "Not found"}},
		app.Div().Class("page-head").Body(app.H1().Text("Page not found")),
		notFoundView("Nothing here", "Nothing lives at this address. It may have been mistyped, or the repository renamed."),
	)
}

// srOnly is text for screen readers only: what a colour or an icon says to the eye.
func srOnly(text string) app.UI { return app.Span().Class("sr-only").Text(text) }

// emptyView says there is nothing to show, and why.
func emptyView(title, hint string) app.UI {
	return app.Div().Class("state empty").Body(
		app.P().Class("empty-title").Text(title),
		app.P().Class("hint").Text(hint),
	)
}

// copyToClipboard puts text on the clipboard.
func copyToClipboard(text string) {
	nav := app.Window().Get("navigator")
	if cb := nav.Get("clipboard"); cb.Truthy() {
		cb.Call("writeText", text)
	}
}

// shortcuts handles the page-wide keys: "/" focuses the page's filter, as on GitHub.
type shortcuts struct {
	app.Compo
	remove func()
}

func (s *shortcuts) OnMount(ctx app.Context) {
	handler := app.FuncOf(func(this app.Value, args []app.Value) any {
		if len(args) == 1 {
			slash(args[0])
		}
		return nil
	})
	doc := app.Window().Get("document")
	doc.Call("addEventListener", "keydown", handler)
	s.remove = func() {
		doc.Call("removeEventListener", "keydown", handler)
		handler.Release()
	}
}

// slash focuses the page's filter when "/" is typed outside a form field.
func slash(e app.Value) {
	if e.Get("key").String() != "/" || e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool() || e.Get("altKey").Bool() {
		return
	}
	if tag := e.Get("target").Get("tagName"); tag.Truthy() {
		switch tag.String() {
		case "INPUT", "TEXTAREA", "SELECT":
			return
		}
	}
	if filter := app.Window().Get("document").Call("querySelector", ".toolbar input[type=search]"); filter.Truthy() {
		e.Call("preventDefault")
		filter.Call("focus")
	}
}

func (s *shortcuts) OnDismount() {
	if s.remove != nil {
		s.remove()
		s.remove = nil
	}
}

func (s *shortcuts) Render() app.UI { return app.Span().Class("shortcuts").Aria("hidden", "true") }

// focusFilter puts focus in a page's filter once it is rendered, unless the user already put
// it somewhere: a page is opened to find something in it.
func focusFilter(ctx app.Context, id string) {
	ctx.Defer(func(ctx app.Context) {
		doc := app.Window().Get("document")
		active := doc.Get("activeElement")
		if active.Truthy() && !active.Equal(doc.Get("body")) && active.Get("id").String() != id {
			return
		}
		if el := doc.Call("getElementById", id); el.Truthy() {
			el.Call("focus")
		}
	})
}

// intoList moves focus from a filter to the first result (selector) on ArrowDown.
func intoList(e app.Event, selector string) {
	if e.Get("key").String() != "ArrowDown" {
		return
	}
	if el := app.Window().Get("document").Call("querySelector", selector); el.Truthy() {
		e.PreventDefault()
		el.Call("focus")
	}
}

// field is one label and value of a definition list.
func field(label string, value app.UI) app.UI {
	return app.Div().Class("field").Body(app.Dt().Text(label), app.Dd().Body(value))
}

// home is a component's own context, kept when it mounts. Work an event starts (a scroll
// fetching rows, a Retry, a form's submit, a row's button) dispatches its answer through it:
// go-app drops what is dispatched from an element that is no longer mounted, and the render
// after the event (or a later one) may have replaced that element meanwhile, leaving a page
// loading or a form busy for good.
type home struct {
	ctx app.Context
	set bool
}

// mount keeps the component's context (call it from OnMount).
func (h *home) mount(ctx app.Context) { h.ctx, h.set = ctx, true }

// of returns the component's context, or ctx before the component mounted.
func (h *home) of(ctx app.Context) app.Context {
	if h.set {
		return h.ctx
	}
	return ctx
}
