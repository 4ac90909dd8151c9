package catalog

import (
	"net/http"

	"github.com/berth-registry/berth/server/httperr"
)

// Page size bounds for list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// ServeRepositories answers GET /api/v1/repositories?q=&offset=&limit=: a catalog page.
func (s *Service) ServeRepositories(w http.ResponseWriter, r *http.Request) {
	p, err := httperr.Paging(r, defaultLimit, maxLimit)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	page, err := s.Repositories(r.Context(), r.URL.Query().Get("q"), p.Offset, p.Limit)
	respond(w, r, page, err)
}

// ServeTags answers GET /api/v1/repositories/{name}/tags?offset=&limit= (tags with details)
// and ?details=false (every tag name, no details).
func (s *Service) ServeTags(w http.ResponseWriter, r *http.Request, repository string) {
	if r.URL.Query().Get("details") == "false" {
		page, err := s.TagNames(r.Context(), repository)
		respond(w, r, page, err)
		return
	}
	p, err := httperr.Paging(r, defaultLimit, maxLimit)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	page, err := s.Tags(r.Context(), repository, p.Offset, p.Limit)
	respond(w, r, page, err)
}

// ServeManifest answers GET /api/v1/repositories/{name}/manifests/{ref}: one manifest in depth.
func (s *Service) ServeManifest(w http.ResponseWriter, r *http.Request, repository, ref string) {
	m, err := s.Manifest(r.Context(), repository, ref)
	respond(w, r, m, err)
}

// ServeUsage answers GET /api/v1/repositories/{name}/usage?delete=: storage with shared blobs
// counted once, and what deleting a manifest would free.
func (s *Service) ServeUsage(w http.ResponseWriter, r *http.Request, repository string) {
	u, err := s.Usage(r.Context(), repository, r.URL.Query().Get("delete"))
	respond(w, r, u, err)
}

func respond(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	// Lists change with every push; the UI keeps its own offline copy.
	w.Header().Set("Cache-Control", "no-store")
	httperr.WriteJSON(w, http.StatusOK, v)
}
