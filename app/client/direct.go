package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// Direct reads a registry's /v2 itself, through a CORS proxy, with no Berth server (berth
// export --direct). It is read-only and modest: the catalog, and each tag with its digest,
// media type and manifest size from a HEAD request. Platforms, image sizes and dates need the
// manifests and configs that Berth's /api/v1 aggregates; they stay empty, and what needs a
// server answers api.CodeDirectMode.
type Direct struct {
	// Base is the registry proxy's base URL.
	Base string
}

var _ Client = (*Direct)(nil)

// errDirect is the answer to everything that needs Berth's server.
func errDirect(what string) error {
	return &api.Error{Status: api.CodeDirectMode.Status(), Code: api.CodeDirectMode, Message: what + " need a Berth server; this UI reads the registry directly."}
}

func (c *Direct) Usage(context.Context, string, string) (api.Usage, error) {
	return api.Usage{}, errDirect("Storage figures")
}

func (c *Direct) AllTags(context.Context, string) (api.TagPage, error) {
	return api.TagPage{}, errDirect("Every tag in one answer")
}

func (c *Direct) WaitChanges(context.Context, string, string) (api.RepositoryChanges, error) {
	return api.RepositoryChanges{}, errDirect("Following changes")
}

func (c *Direct) TagsWithLabel(context.Context, string, string, string) ([]string, error) {
	return nil, errDirect("Label filters")
}

func (c *Direct) Search(context.Context, string, int) (api.SearchPage, error) {
	return api.SearchPage{}, errDirect("Search across repositories")
}

func (c *Direct) Untagged(context.Context, string) (api.UntaggedPage, error) {
	return api.UntaggedPage{}, errDirect("Untagged manifests")
}

func (c *Direct) Manifest(context.Context, string, string) (api.Manifest, error) {
	return api.Manifest{}, errDirect("Manifest details")
}

// Session is always nobody: there are no sessions without Berth.
func (c *Direct) Session(context.Context) (api.Session, error) { return api.Session{}, nil }

func (c *Direct) SignIn(context.Context, string, string) (api.Session, error) {
	return api.Session{}, errDirect("Sign-in and credentials")
}

func (c *Direct) SignOut(context.Context) error { return nil }

func (c *Direct) Events(context.Context, api.EventQuery) (api.EventPage, error) {
	return api.EventPage{}, errDirect("Push and pull activity")
}

func (c *Direct) Stats(context.Context, string) (api.Stats, error) {
	return api.Stats{}, errDirect("Push and pull activity")
}

func (c *Direct) RepositoryStats(context.Context, string, string) (api.RepositoryStats, error) {
	return api.RepositoryStats{}, errDirect("Push and pull activity")
}

func (c *Direct) StartJob(context.Context, api.JobRequest) (string, error) {
	return "", errDirect("Changes")
}

func (c *Direct) PreviewCleanup(context.Context, api.CleanupRule) (api.CleanupPlan, error) {
	return api.CleanupPlan{}, errDirect("Cleanup rules")
}

func (c *Direct) Job(context.Context, string) (api.Job, error) { return api.Job{}, errDirect("Jobs") }

func (c *Direct) Jobs(context.Context, api.JobQuery) (api.JobList, error) {
	return api.JobList{}, errDirect("Jobs")
}

func (c *Direct) CancelJob(context.Context, string) error { return errDirect("Jobs") }

func (c *Direct) FollowJob(context.Context, string, func(api.JobEvent)) (api.JobEvent, error) {
	return api.JobEvent{}, errDirect("Jobs")
}

// Reachable asks the registry's /v2/, where 401 counts as an answer.
func (c *Direct) Reachable(ctx context.Context) bool { return reachable(ctx, c.Base+"/v2/") }

// TagNames lists every tag of a repository without resolving them.
func (c *Direct) TagNames(ctx context.Context, repository string) (api.TagPage, error) {
	return c.tags(ctx, repository, 0, 1<<30, false)
}

// Tags lists a page of a repository's tags, each resolved by a HEAD request.
func (c *Direct) Tags(ctx context.Context, repository string, offset, limit int) (api.TagPage, error) {
	return c.tags(ctx, repository, offset, limit, true)
}

// directManifestTypes is the Accept header for the HEAD requests that resolve tags.
var directManifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// directConcurrency bounds the HEAD requests in flight for one tag page.
const directConcurrency = 6

// directCatalogPages bounds how many /v2/_catalog pages are followed.
const directCatalogPages = 50

var linkNext = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

// Repositories reads the whole catalog from /v2/_catalog, then filters and pages it here, as
// the server would. Kinds and orders other than by name need what Berth's server indexes.
func (c *Direct) Repositories(ctx context.Context, q api.RepositoryQuery) (api.RepositoryPage, error) {
	if q.Kind != "" || (q.Sort != "" && q.Sort != "name") {
		return api.RepositoryPage{}, errDirect("Sorting and filtering by kind")
	}
	query, offset, limit := q.Query, q.Offset, q.Limit
	var names []string
	next := "/v2/_catalog?n=1000"
	for i := 0; next != "" && i < directCatalogPages; i++ {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		link, err := c.get(ctx, next, &page)
		if err != nil {
			return api.RepositoryPage{}, err
		}
		names = append(names, page.Repositories...)
		next = link
	}
	slices.Sort(names)
	var matched []api.Repository
	for _, n := range names {
		if query == "" || strings.Contains(n, query) {
			matched = append(matched, api.Repository{Name: n})
		}
	}
	p := api.RepositoryPage{Total: len(matched), Offset: offset, Limit: limit, Query: query, Updated: time.Now()}
	if offset < len(matched) {
		p.Repositories = matched[offset:min(len(matched), offset+limit)]
	}
	return p, nil
}

// tags lists a repository's tags and resolves a page of them to digests.
func (c *Direct) tags(ctx context.Context, repository string, offset, limit int, details bool) (api.TagPage, error) {
	var list struct {
		Tags []string `json:"tags"`
	}
	if _, err := c.get(ctx, "/v2/"+escapePath(repository)+"/tags/list", &list); err != nil {
		return api.TagPage{}, err
	}
	slices.Sort(list.Tags)
	p := api.TagPage{Repository: repository, Total: len(list.Tags), Offset: offset, Limit: limit}
	if base, err := url.Parse(c.Base); err == nil {
		p.PullHost = base.Host
	}
	if offset >= len(list.Tags) {
		return p, nil
	}
	names := list.Tags[offset:min(len(list.Tags), offset+limit)]
	p.Tags = make([]api.Tag, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, directConcurrency)
	for i, name := range names {
		p.Tags[i].Name = name
		if !details {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c.resolve(ctx, repository, &p.Tags[i])
		})
	}
	wg.Wait()
	return p, nil
}

// resolve fills in a tag's digest, media type and manifest size from a HEAD request.
func (c *Direct) resolve(ctx context.Context, repository string, t *api.Tag) {
	resp, err := send(ctx, request{method: http.MethodHead, url: c.Base + "/v2/" + escapePath(repository) + "/manifests/" + url.PathEscape(t.Name),
		header: map[string]string{"Accept": directManifestTypes}})
	if err != nil {
		t.Error = "cannot reach the registry"
		return
	}
	resp.body.Close()
	if resp.status != http.StatusOK {
		t.Error = fmt.Sprintf("the registry answered %s", resp.Status())
		return
	}
	t.Digest = resp.header("Docker-Content-Digest")
	t.MediaType, _, _ = strings.Cut(resp.header("Content-Type"), ";")
	t.Kind = "image"
	if strings.Contains(t.MediaType, "index") || strings.Contains(t.MediaType, "list") {
		t.Kind = "index"
	}
	if t.Digest == "" {
		t.Error = "the proxy does not expose Docker-Content-Digest (Access-Control-Expose-Headers)"
	}
}

// get reads a /v2 JSON document into into and returns the next page's path from its
// Link header ("" for the last page). Offline, the stored copy stands in (without a next).
func (c *Direct) get(ctx context.Context, path string, into any) (next string, err error) {
	resp, err := send(ctx, request{method: http.MethodGet, url: c.Base + path, header: map[string]string{"Accept": "application/json"}})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if recallOffline(http.MethodGet, c.Base, path, into) {
			return "", nil
		}
		return "", &api.Error{Code: api.CodeOffline, Message: "Cannot reach the registry proxy at " + c.Base + "."}
	}
	defer resp.body.Close()
	if resp.status >= 400 {
		setStatus(false, zeroTime)
		return "", &api.Error{Status: resp.status, Code: api.CodeForStatus(resp.status), Message: fmt.Sprintf("The registry answered %s to %s.", resp.Status(), path)}
	}
	if err := c.decodeAndRemember(resp, path, into); err != nil {
		return "", err
	}
	if m := linkNext.FindStringSubmatch(resp.header("Link")); m != nil {
		if u, err := url.Parse(m[1]); err == nil && strings.HasPrefix(u.Path, "/v2/") {
			return u.RequestURI(), nil
		}
	}
	return "", nil
}

// decodeAndRemember decodes a successful /v2 answer into into and stores it for offline use.
func (c *Direct) decodeAndRemember(resp *response, path string, into any) error {
	data, err := io.ReadAll(io.LimitReader(resp.body, 64<<20))
	if err != nil {
		return &api.Error{Code: api.CodeOffline, Message: "The connection to the registry proxy broke: " + err.Error()}
	}
	setStatus(false, zeroTime)
	if err := json.Unmarshal(data, into); err != nil {
		return &api.Error{Status: resp.status, Code: api.CodeBadResponse, Message: "The registry sent a response the UI cannot read: " + err.Error()}
	}
	remember(http.MethodGet, c.Base, path, data)
	return nil
}
