// Package ui holds Berth's go-app components. The WebAssembly main and the server both call
// Routes, so that every deep link is prerendered by the server and handled by the browser.
package ui

import (
	"net/url"
	"strings"
	"sync"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/client"
)

// Names of the app.Handler Env entries the server passes to the UI.
const (
	EnvVersion  = "BERTH_VERSION"
	EnvReadOnly = "BERTH_READ_ONLY"
	EnvAPIURL   = "BERTH_API_URL"
)

var routesOnce sync.Once

// Routes registers every page of the UI; calling it again does nothing.
func Routes() {
	routesOnce.Do(func() {
		app.Route("/", func() app.Composer { return &catalogPage{} })
		app.Route("/activity", func() app.Composer { return &activityPage{} })
		app.Route("/jobs", func() app.Composer { return &jobsPage{} })
		app.RouteWithRegexp(`^/jobs/[0-9]+$`, func() app.Composer { return &jobsPage{} })
		// Repository names never hold ':' or '@', so NAME:TAG and NAME@DIGEST are manifests.
		app.RouteWithRegexp(`^/repositories/[a-z0-9][^:@]*$`, func() app.Composer { return &repositoryPage{} })
		app.RouteWithRegexp(`^/repositories/[a-z0-9][^:@]*[:@][^/]+$`, func() app.Composer { return &manifestPage{} })
		app.RouteWithRegexp(`^/inside/[a-z0-9][^:@]*[:@][^/]+$`, func() app.Composer { return &insidePage{} })
		app.Route("/diff", func() app.Composer { return &diffPage{} })
		// Not /charts/: that is the classic chart repository (index.yaml, archives).
		app.RouteWithRegexp(`^/chart/[a-z0-9][^:@]*(:[^/]+)?$`, func() app.Composer { return &chartPage{} })
		accessRoutes() // access.go: sign-in and the account pages
		// replication.go: registry endpoints and replication rules
		replicationRoutes()
		registryRoutes() // registry.go: other endpoints' pages, /r/{registry}/…
		// Last: any other address gets Berth's own "not found" page (go-app's handler would
		// answer a bare 404 text, and app.NotFound is never shown by it).
		app.RouteWithRegexp(`^/.+`, func() app.Composer { return &notFoundPage{} })
	})
}

// apiClient is how every component reaches its data: Berth's /api/v1, or in a direct export
// the registry's /v2.
func apiClient() client.Client {
	return scopedClient(clientFor(app.Getenv(EnvAPIURL), app.Getenv(EnvMode)))
}

// clients caches one client per configuration: the environment never changes in a page.
var clients sync.Map

func clientFor(base, mode string) client.Client {
	key := mode + " " + base
	if c, ok := clients.Load(key); ok {
		return c.(client.Client)
	}
	c, _ := clients.LoadOrStore(key, client.New(base, mode == ModeDirect))
	return c.(client.Client)
}

// repositoryURL is the UI path of a repository page.
func repositoryURL(name string) string {
	return inRegistry("/repositories/" + name)
}

// repositoryFromPath extracts the repository name from a UI path.
func repositoryFromPath(u *url.URL) string {
	return strings.Trim(strings.TrimPrefix(unprefixed(u.Path), Path("/repositories/")), "/")
}
