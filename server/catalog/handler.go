package catalog

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/server/httperr"
)

// Page size bounds for list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// Handler serves the read API under /api/v1/:
//
//	GET /api/v1/repositories?q=&offset=&limit=        catalog page
//	GET /api/v1/repositories/{name}/tags?offset=&limit= tags with details
//	GET /api/v1/repositories/{name}/tags?details=false  every tag name, no details
//	GET /api/v1/repositories/{name}/manifests/{ref}     one manifest in depth (tag or digest)
//	GET /api/v1/repositories/{name}/usage?delete=       storage, shared blobs once; what a delete frees
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httperr.Write(w, r, httperr.New(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" is not allowed here"))
			return
		}
		path := strings.TrimPrefix(r.URL.Path, "/api/v1")
		offset, limit, err := paging(r)
		if err != nil {
			httperr.Write(w, r, err)
			return
		}
		switch {
		case path == "/repositories":
			page, err := s.Repositories(r.Context(), r.URL.Query().Get("q"), offset, limit)
			respond(w, r, page, err)
		case strings.HasPrefix(path, "/repositories/") && strings.HasSuffix(path, "/tags"):
			repo := strings.TrimSuffix(strings.TrimPrefix(path, "/repositories/"), "/tags")
			if r.URL.Query().Get("details") == "false" {
				page, err := s.TagNames(r.Context(), repo)
				respond(w, r, page, err)
				return
			}
			page, err := s.Tags(r.Context(), repo, offset, limit)
			respond(w, r, page, err)
		case strings.HasPrefix(path, "/repositories/") && strings.Contains(path, "/manifests/"):
			i := strings.LastIndex(path, "/manifests/")
			repo, ref := strings.TrimPrefix(path[:i], "/repositories/"), path[i+len("/manifests/"):]
			m, err := s.Manifest(r.Context(), repo, ref)
			respond(w, r, m, err)
		case strings.HasPrefix(path, "/repositories/") && strings.HasSuffix(path, "/usage"):
			repo := strings.TrimSuffix(strings.TrimPrefix(path, "/repositories/"), "/usage")
			u, err := s.Usage(r.Context(), repo, r.URL.Query().Get("delete"))
			respond(w, r, u, err)
		default:
			httperr.Write(w, r, httperr.New(http.StatusNotFound, "NOT_FOUND", "no such API endpoint: "+r.URL.Path))
		}
	})
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

func paging(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, httperr.New(http.StatusBadRequest, "INVALID_PARAMETER", "limit must be a number from 1 to "+strconv.Itoa(maxLimit))
		}
	}
	if v := q.Get("offset"); v != "" {
		offset, err = strconv.Atoi(v)
		if err != nil || offset < 0 {
			return 0, 0, httperr.New(http.StatusBadRequest, "INVALID_PARAMETER", "offset must be a number of 0 or more")
		}
	}
	return offset, limit, nil
}
