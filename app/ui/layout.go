package ui

import (
	"fmt"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
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
		app.Img().Src("/web/icon.svg").Alt("").Width(28).Height(28),
		app.Span().Text("Berth"),
	)}
	for i, c := range crumbs {
		trail = append(trail, app.Span().Class("sep").Text("/"))
		if i == len(crumbs)-1 || c.href == "" {
			trail = append(trail, app.Span().Class("crumb current").Text(c.label))
		} else {
			trail = append(trail, app.A().Class("crumb").Href(c.href).Text(c.label))
		}
	}
	version := app.Getenv(EnvVersion)
	return app.Div().Class("layout").Body(
		app.Header().Class("topbar").Body(
			app.Nav().Class("trail").Aria("label", "Breadcrumb").Body(trail...),
			app.A().Class("nav-link").Href(Path("/activity")).Text("Activity"),
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

// humanSize renders a byte count the way docker does (decimal units).
func humanSize(n int64) string { return api.HumanSize(n) }

// ago renders a time relative to now: "3 days ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in the future"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	case d < 365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month") + " ago"
	}
	return plural(int(d/(365*24*time.Hour)), "year") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// shortDigest renders sha256:0123456789abcdef… as its first 12 hex digits.
func shortDigest(d string) string {
	const prefix = "sha256:"
	if len(d) > len(prefix)+12 && d[:len(prefix)] == prefix {
		return d[len(prefix) : len(prefix)+12]
	}
	return d
}

// copyToClipboard puts text on the clipboard.
func copyToClipboard(text string) {
	nav := app.Window().Get("navigator")
	if cb := nav.Get("clipboard"); cb.Truthy() {
		cb.Call("writeText", text)
	}
}
