package ui

import (
	"context"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

// Other registry endpoints are browsed with the same pages under /r/{registry}/…: the catalog
// at /r/{registry}/, repositories and manifests below it. The main registry keeps its URLs.

// registryPattern is a path segment naming an endpoint (server/replication's grammar).
const registryPattern = `[a-z0-9][a-z0-9._-]{0,62}`

// registryRoutes registers the pages of other endpoints; Routes calls it before its catch-all.
func registryRoutes() {
	app.RouteWithRegexp(`^/r/`+registryPattern+`/?$`, func() app.Composer { return &catalogPage{} })
	app.RouteWithRegexp(`^/r/`+registryPattern+`/repositories/[a-z0-9][^:@]*$`, func() app.Composer { return &repositoryPage{} })
	app.RouteWithRegexp(`^/r/`+registryPattern+`/repositories/[a-z0-9][^:@]*[:@][^/]+$`, func() app.Composer { return &manifestPage{} })
}

// registryOf returns the endpoint a UI path names (/r/{registry}/…); "" for the main registry.
func registryOf(path string) string {
	rest, ok := strings.CutPrefix(path, Path("/r/"))
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == api.MainRegistry {
		return ""
	}
	return name
}

// unprefixed returns a UI path without its /r/{registry} part.
func unprefixed(path string) string {
	after, ok := strings.CutPrefix(path, Path("/r/"))
	if !ok {
		return path
	}
	reg, _, _ := strings.Cut(after, "/")
	rest := strings.TrimPrefix(path, Path("/r/"+reg))
	if rest == "" {
		rest = "/"
	}
	return Path(rest)
}

// browsed is the endpoint the page in the browser shows; "" for the main registry (and on the
// server, which prerenders other endpoints' pages without data).
func browsed() string {
	if app.IsServer {
		return ""
	}
	return registryOf(app.Window().URL().Path)
}

// inRegistry returns the UI path p (e.g. /repositories/x) of the registry browsed.
func inRegistry(p string) string {
	return registryURL(browsed(), p)
}

// registryURL returns the UI path p of registry reg ("" or "main": the main registry).
func registryURL(reg, p string) string {
	if reg == "" || reg == api.MainRegistry {
		return Path(p)
	}
	return Path("/r/" + reg + p)
}

// homeURL is the catalog of the registry browsed.
func homeURL() string { return inRegistry("/") }

// scopedClient is c reading the registry browsed.
func scopedClient(c client.Client) client.Client {
	if b, ok := c.(*client.Berth); ok {
		if reg := browsed(); reg != "" {
			return b.ForRegistry(reg)
		}
	}
	return c
}

// registrySwitcher is the header's choice of registry, for administrators where endpoints
// other than the main registry exist; choosing one opens its catalog.
type registrySwitcher struct {
	app.Compo
	session api.Session
	list    fetched[[]api.RegistryEndpoint]
}

func (s *registrySwitcher) OnMount(ctx app.Context) {
	ctx.ObserveState(stateSession, &s.session).OnChange(func() { s.load(ctx) })
	s.load(ctx)
}

func (s *registrySwitcher) load(ctx app.Context) {
	if !s.session.Admin || app.Getenv(EnvMode) == ModeDirect {
		return
	}
	if seen := endpointsSeen; seen.user == s.session.User && time.Since(seen.at) < time.Minute {
		s.list.key, s.list.state, s.list.v = seen.user, loaded, seen.list
		return
	}
	s.list.load(ctx, s.session.User, func(c context.Context) ([]api.RegistryEndpoint, error) {
		r, ok := clientFor(app.Getenv(EnvAPIURL), app.Getenv(EnvMode)).(client.Replication)
		if !ok {
			return nil, nil
		}
		return r.RegistryEndpoints(c)
	}, func(ctx app.Context) {
		if s.list.state == loaded {
			endpointsSeen.user, endpointsSeen.at, endpointsSeen.list = s.session.User, time.Now(), s.list.v
		}
	})
}

func (s *registrySwitcher) Render() app.UI {
	if s.list.state != loaded || len(s.list.v) < 2 {
		return app.Span().Class("registry-switch").Hidden(true)
	}
	current := browsed()
	if current == "" {
		current = api.MainRegistry
	}
	opts := make([]app.UI, 0, len(s.list.v))
	for _, e := range s.list.v {
		opts = append(opts, app.Option().Value(e.Name).Selected(e.Name == current).Text(e.Name))
	}
	return app.Span().Class("registry-switch").Body(
		app.Label().For("registry-switch").Class("sr-only").Text("Registry"),
		app.Select().ID("registry-switch").Title("Registry").OnChange(func(ctx app.Context, e app.Event) {
			ctx.Navigate(registryURL(ctx.JSSrc().Get("value").String(), "/"))
		}).Body(opts...),
	)
}

// catalogTitle heads the catalog: the registry's name when it is not the main one.
func catalogTitle() string {
	if reg := browsed(); reg != "" {
		return "Repositories in " + reg
	}
	return "Repositories"
}

// manifestName is NAME:TAG or NAME@DIGEST, as page titles show a manifest.
func manifestName(repo, ref string) string {
	return strings.TrimPrefix(unprefixed(manifestURL(repo, ref)), Path("/repositories/"))
}

// endpointsSeen is the last list of endpoints the switcher read, so that every page of a
// visit does not ask again; at most a minute old.
var endpointsSeen struct {
	user string
	at   time.Time
	list []api.RegistryEndpoint
}

// manifestURL is the UI path of a manifest by tag or digest.
func manifestURL(repo, ref string) string { return manifestIn(browsed(), repo, ref) }

// manifestIn is the UI path of repo's manifest ref in registry reg ("": the main registry).
func manifestIn(reg, repo, ref string) string {
	if strings.Contains(ref, ":") {
		return registryURL(reg, "/repositories/"+repo+"@"+ref)
	}
	return registryURL(reg, "/repositories/"+repo+":"+ref)
}

// splitReference splits NAME:TAG or NAME@DIGEST from a UI path.
func splitReference(path string) (repo, ref string) {
	return cutReference(strings.Trim(strings.TrimPrefix(unprefixed(path), Path("/repositories/")), "/"))
}

// cutReference splits NAME@DIGEST at the '@', NAME:TAG at the last ':' (a registry port
// never appears in a repository name here).
func cutReference(rest string) (repo, ref string) {
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return rest[:i], rest[i+1:]
	}
	return rest, ""
}
