package catalog

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/app/api"

	"github.com/berth-registry/berth/server/httperr"
)

// Page size bounds for list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// ServeRepositories answers GET /api/v1/repositories?q=&sort=&kind=&offset=&limit=: a catalog page.
func (s *Service) ServeRepositories(w http.ResponseWriter, r *http.Request) {
	p, err := httperr.Paging(r, defaultLimit, maxLimit)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := s.Repositories(r.Context(), RepositoryQuery{Query: q.Get("q"), Sort: q.Get("sort"), Kind: q.Get("kind"), Offset: p.Offset, Limit: p.Limit})
	respond(w, r, page, err)
}

// ServeTags answers GET /api/v1/repositories/{name}/tags?offset=&limit=&sort=&q=&platform=&kind=&label=
// (tags with details; limit=all gives every tag in one response; label=name or name=value
// keeps tags whose image config has the label) and ?details=false (every tag name, no details).
// With limit=all, a client that accepts api.TagRowsType gets the page in rows.
func (s *Service) ServeTags(w http.ResponseWriter, r *http.Request, repository string) {
	v := r.URL.Query()
	if v.Get("details") == "false" {
		page, err := s.TagNames(r.Context(), repository)
		respond(w, r, page, err)
		return
	}
	q := TagQuery{Sort: v.Get("sort"), Name: v.Get("q"), Platform: v.Get("platform"), Kind: v.Get("kind"), Label: strings.TrimSpace(v.Get("label"))}
	if name, _, _ := strings.Cut(q.Label, "="); len(q.Label) > 1024 || (q.Label != "" && strings.TrimSpace(name) == "") {
		httperr.Write(w, r, httperr.New(api.CodeBadRequest, "label must be a label name, or name=value, of at most 1024 characters"))
		return
	}
	if v.Get("limit") == "all" {
		q.All = true
	} else {
		p, err := httperr.Paging(r, defaultLimit, maxLimit)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		q.Offset, q.Limit = p.Offset, p.Limit
	}
	page, err := s.Tags(r.Context(), repository, q)
	if q.All && err == nil && acceptsRows(r) {
		respondTagRows(w, page)
		return
	}
	respondTags(w, r, page, err)
}

// ServeSearch answers GET /api/v1/search?q=&limit=: tags across the registry by name, digest
// or label, from the repositories the caller may read.
func (s *Service) ServeSearch(w http.ResponseWriter, r *http.Request) {
	p, err := httperr.Paging(r, 50, 200)
	if err != nil {
		httperr.Write(w, r, err)
		return
	}
	res, err := s.Search(r.Context(), r.URL.Query().Get("q"), p.Limit)
	respond(w, r, res, err)
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

// ServeUntagged answers GET /api/v1/repositories/{name}/untagged: the manifests no tag points
// to that are not part of something tagged, and whether the list is complete or as seen by
// Berth.
func (s *Service) ServeUntagged(w http.ResponseWriter, r *http.Request, repository string) {
	page, err := s.Untagged(r.Context(), repository)
	respond(w, r, page, err)
}
