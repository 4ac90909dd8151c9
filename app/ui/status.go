package ui

import (
	"context"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/client"
)

// EnvMode is the app.Handler Env entry saying where the UI gets its data: "" for Berth's
// /api/v1, ModeDirect for a registry's /v2 behind a CORS proxy (berth export --direct).
const EnvMode = "BERTH_MODE"

// ModeDirect is EnvMode's value for the read-only UI that talks to /v2 only.
const ModeDirect = "direct"

// healthPoll is how often the UI checks, while offline, whether the server is back, and
// while a dependency is down, whether it is back.
const healthPoll = 3 * time.Second

// depsPoll is how often the UI asks Berth how its dependencies are doing while they are up;
// an error answer naming one down shows at once.
const depsPoll = 30 * time.Second

// Path returns the UI path p under the base path the UI is served from (berth export
// --base-path), so links work on a static host below the site's root.
func Path(p string) string {
	return strings.TrimRight(app.Getenv("GOAPP_ROOT_PREFIX"), "/") + p
}

// statusBanner shows, under the header, that the server is unreachable and the page shows
// stored data, and that a new version of the UI is ready. Offline, it checks every few
// seconds whether the server is back and then reloads the page, which fetches fresh data.
type statusBanner struct {
	app.Compo

	offline  bool
	dataFrom time.Time
	update   bool // a new version was installed by the service worker
	polling  bool
	stop     func()

	registryDown, storeDown bool
	depsGen                 int // guards the dependency poll: one per mount
}

func (b *statusBanner) OnMount(ctx app.Context) {
	b.update = ctx.AppUpdateAvailable()
	b.show(ctx, client.Status())
	b.stop = client.Watch(func(s client.Connectivity) {
		ctx.Dispatch(func(ctx app.Context) { b.show(ctx, s) })
	})
	b.depsGen++
	b.pollDeps(ctx, b.depsGen)
}

func (b *statusBanner) OnDismount() {
	if b.stop != nil {
		b.stop()
		b.stop = nil
	}
}

// OnAppUpdate is called by go-app when the service worker installed a new version.
func (b *statusBanner) OnAppUpdate(ctx app.Context) {
	b.update = ctx.AppUpdateAvailable()
}

// show takes in a connectivity change and starts watching for the server's return.
func (b *statusBanner) show(ctx app.Context, s client.Connectivity) {
	b.offline, b.dataFrom = s.Offline, s.DataFrom
	if (s.RegistryDown || s.StoreDown) && !b.registryDown && !b.storeDown && b.stop != nil {
		// Newly down: watch for its return every few seconds, not at the slow pace.
		b.depsGen++
		gen := b.depsGen
		ctx.After(healthPoll, func(ctx app.Context) { b.pollDeps(ctx, gen) })
	}
	b.registryDown, b.storeDown = s.RegistryDown, s.StoreDown
	if s.Offline && !b.polling {
		b.polling = true
		ctx.After(healthPoll, b.poll)
	}
}

// poll asks the server whether it is up; once it is, the page reloads with fresh data.
func (b *statusBanner) poll(ctx app.Context) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), healthPoll)
		defer cancel()
		up := apiClient().Reachable(c)
		ctx.Dispatch(func(ctx app.Context) {
			switch {
			case up:
				b.polling = false
				ctx.Reload()
			case b.stop == nil: // dismounted
				b.polling = false
			default:
				ctx.After(healthPoll, b.poll)
			}
		})
	})
}

// pollDeps asks Berth how its registry and database are doing (the answer reaches show
// through the connectivity signal), again after healthPoll while one is down, else depsPoll.
func (b *statusBanner) pollDeps(ctx app.Context, gen int) {
	ctx.Async(func() {
		c, cancel := context.WithTimeout(context.Background(), healthPoll)
		defer cancel()
		_, _ = apiClient().Dependencies(c)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != b.depsGen || b.stop == nil { // remounted or dismounted
				return
			}
			next := depsPoll
			if b.registryDown || b.storeDown {
				next = healthPoll
			}
			ctx.After(next, func(ctx app.Context) { b.pollDeps(ctx, gen) })
		})
	})
}

func (b *statusBanner) Render() app.UI {
	return app.Div().Class("status-banners").Body(
		app.If(!b.offline && b.registryDown, func() app.UI {
			return app.Div().Class("banner degraded").ID("registry-banner").Role("status").Body(
				app.Span().Text("The registry is not answering"),
				app.Span().Class("hint").Text("Pages show what Berth has stored; this notice goes once the registry is back."),
			)
		}),
		app.If(!b.offline && b.storeDown, func() app.UI {
			return app.Div().Class("banner degraded").ID("store-banner").Role("status").Body(
				app.Span().Text("The database is unavailable: activity and jobs are paused"),
				app.Span().Class("hint").Text("Repositories and tags still show from the registry; this notice goes once the database is back."),
			)
		}),
		app.If(b.offline, func() app.UI {
			msg := "Offline — the Berth server cannot be reached"
			if !b.dataFrom.IsZero() {
				msg = "Offline — showing data from " + b.dataFrom.Local().Format("2 Jan 2006 15:04")
			}
			return app.Div().Class("banner offline").ID("offline-banner").Role("status").Body(
				app.Span().Text(msg),
				app.Span().Class("hint").Text("Changes are disabled until it is back; the page refreshes by itself."),
			)
		}),
		app.If(b.update, func() app.UI {
			return app.Div().Class("banner update").ID("update-banner").Role("status").Body(
				app.Span().Text("A new version is available"),
				app.Button().Class("button").Text("Reload").OnClick(func(ctx app.Context, e app.Event) {
					ctx.Reload()
				}),
			)
		}),
	)
}
