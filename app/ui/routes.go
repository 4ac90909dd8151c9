// Package ui holds Berth's go-app components. The WebAssembly main and the server both call
// Routes, so that every deep link is prerendered by the server and handled by the browser.
package ui

import (
	"net/url"
	"strings"
	"sync"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/berth-registry/berth/app/api"
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
		// Repository names never hold ':' or '@', so NAME:TAG and NAME@DIGEST are manifests.
		app.RouteWithRegexp(`^/repositories/[a-z0-9][^:@]*$`, func() app.Composer { return &repositoryPage{} })
		app.RouteWithRegexp(`^/repositories/[a-z0-9][^:@]*[:@][^/]+$`, func() app.Composer { return &manifestPage{} })
		// Not /charts/: that is the classic chart repository (index.yaml, archives).
		app.RouteWithRegexp(`^/chart/[a-z0-9][^:@]*(:[^/]+)?$`, func() app.Composer { return &chartPage{} })
	})
}

// client is how every component reaches the API.
func client() api.Client {
	return api.Client{Base: strings.TrimRight(app.Getenv(EnvAPIURL), "/"), Direct: app.Getenv(EnvMode) == ModeDirect}
}

// repositoryURL is the UI path of a repository page.
func repositoryURL(name string) string {
	return Path("/repositories/" + name)
}

// repositoryFromPath extracts the repository name from a UI path.
func repositoryFromPath(u *url.URL) string {
	return strings.Trim(strings.TrimPrefix(u.Path, Path("/repositories/")), "/")
}
