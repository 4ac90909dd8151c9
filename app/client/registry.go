package client

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/app/api"
)

// ForRegistry returns a client like c browsing the registry endpoint name ("" or "main": the
// main registry, c itself).
func (c *Berth) ForRegistry(name string) *Berth {
	if name == api.MainRegistry {
		name = ""
	}
	return &Berth{Base: c.Base, Registry: name}
}

// mainOnly are the /api/v1 paths about the main registry's repositories alone: a client
// browsing another endpoint refuses them rather than show the main registry's answer.
var mainOnly = []string{"/api/v1/access", "/api/v1/stats/", "/api/v1/contents/", "/api/v1/scans", "/api/v1/charts/", "/api/v1/imports"}

// scoped returns the path a request of c goes to: catalog reads of another endpoint under
// /api/v1/r/{registry}/, and an error for what Berth answers for the main registry only.
func (c *Berth) scoped(method, path string) (string, error) {
	if c.Registry == "" {
		return path, nil
	}
	if rest, ok := strings.CutPrefix(path, "/api/v1/repositories"); ok && method == http.MethodGet {
		return "/api/v1/r/" + url.PathEscape(c.Registry) + "/repositories" + rest, nil
	}
	refused := method == http.MethodPost && strings.HasPrefix(path, "/api/v1/jobs")
	for _, p := range mainOnly {
		refused = refused || strings.HasPrefix(path, p)
	}
	if refused {
		return "", &api.Error{Code: api.CodeNotAvailable, Message: "Berth shows this for the main registry only, not for " + c.Registry + "."}
	}
	return path, nil
}
