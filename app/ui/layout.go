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
		app.Span().Text("Berth"),
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
			app.A().Class("nav-link").Href(activityURL("", "")).Text("Activity"),
			&userMenu{},
		),
		&statusBanner{}, // offline and new-version notices
		app.Main().Class("content").Body(content...),
		app.Footer().Class("footer").Body(
			app.Span().Text("Berth "+version),
		),
	)
}

// loadState is where a page's data fetch stands.
type loadState int

const (
	loading loadState = iota
	loaded
	failed
)

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
