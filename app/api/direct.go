package api

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
)

// Direct mode: the UI reads a registry's /v2 itself, through a CORS proxy, with no Berth
// server (berth export --direct). It is read-only and modest: the catalog, and each tag with
// its digest, media type and manifest size from a HEAD request. Platforms, image sizes and
// dates need the manifests and configs that Berth's /api/v1 aggregates; they stay empty.

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

// directRepositories reads the whole catalog from /v2/_catalog, then filters and pages it
// here, as the server would.
func (c Client) directRepositories(ctx context.Context, query string, offset, limit int) (RepositoryPage, error) {
	var names []string
	next := "/v2/_catalog?n=1000"
	for i := 0; next != "" && i < directCatalogPages; i++ {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		link, err := c.directGet(ctx, next, &page)
		if err != nil {
			return RepositoryPage{}, err
		}
		names = append(names, page.Repositories...)
		next = link
	}
	slices.Sort(names)
	var matched []Repository
	for _, n := range names {
		if query == "" || strings.Contains(n, query) {
			matched = append(matched, Repository{Name: n})
		}
	}
	p := RepositoryPage{Total: len(matched), Offset: offset, Limit: limit, Query: query, Updated: time.Now()}
	if offset < len(matched) {
		p.Repositories = matched[offset:min(len(matched), offset+limit)]
	}
	return p, nil
}

// directTags lists a repository's tags and resolves a page of them to digests.
func (c Client) directTags(ctx context.Context, repository string, offset, limit int, details bool) (TagPage, error) {
	var list struct {
		Tags []string `json:"tags"`
	}
	if _, err := c.directGet(ctx, "/v2/"+escapePath(repository)+"/tags/list", &list); err != nil {
		return TagPage{}, err
	}
	slices.Sort(list.Tags)
	p := TagPage{Repository: repository, Total: len(list.Tags), Offset: offset, Limit: limit}
	if base, err := url.Parse(c.Base); err == nil {
		p.PullHost = base.Host
	}
	if offset >= len(list.Tags) {
		return p, nil
	}
	names := list.Tags[offset:min(len(list.Tags), offset+limit)]
	p.Tags = make([]Tag, len(names))
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
			c.directResolve(ctx, repository, &p.Tags[i])
		})
	}
	wg.Wait()
	return p, nil
}

// directResolve fills in a tag's digest, media type and manifest size from a HEAD request.
func (c Client) directResolve(ctx context.Context, repository string, t *Tag) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.Base+"/v2/"+escapePath(repository)+"/manifests/"+url.PathEscape(t.Name), nil)
	if err != nil {
		t.Error = err.Error()
		return
	}
	req.Header.Set("Accept", directManifestTypes)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		t.Error = "cannot reach the registry"
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Error = fmt.Sprintf("the registry answered %s", resp.Status)
		return
	}
	t.Digest = resp.Header.Get("Docker-Content-Digest")
	t.MediaType, _, _ = strings.Cut(resp.Header.Get("Content-Type"), ";")
	t.Kind = "image"
	if strings.Contains(t.MediaType, "index") || strings.Contains(t.MediaType, "list") {
		t.Kind = "index"
	}
	if t.Digest == "" {
		t.Error = "the proxy does not expose Docker-Content-Digest (Access-Control-Expose-Headers)"
	}
}

// directGet reads a /v2 JSON document into into and returns the next page's path from its
// Link header ("" for the last page). Offline, the stored copy stands in (without a next).
func (c Client) directGet(ctx context.Context, path string, into any) (next string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return "", &Error{Code: "BAD_REQUEST", Message: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if c.recall(http.MethodGet, path, into) {
			return "", nil
		}
		return "", &Error{Code: "OFFLINE", Message: "Cannot reach the registry proxy at " + c.Base + "."}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		setStatus(false, time.Time{})
		return "", &Error{Status: resp.StatusCode, Code: "HTTP_" + fmt.Sprint(resp.StatusCode), Message: fmt.Sprintf("The registry answered %s to %s.", resp.Status, path)}
	}
	if err := c.decodeAndRemember(resp, path, into); err != nil {
		return "", err
	}
	if m := linkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
		if u, err := url.Parse(m[1]); err == nil && strings.HasPrefix(u.Path, "/v2/") {
			return u.RequestURI(), nil
		}
	}
	return "", nil
}

func (c Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// decodeAndRemember decodes a successful /v2 answer into into and stores it for offline use.
func (c Client) decodeAndRemember(resp *http.Response, path string, into any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &Error{Code: "OFFLINE", Message: "The connection to the registry proxy broke: " + err.Error()}
	}
	setStatus(false, time.Time{})
	if err := json.Unmarshal(data, into); err != nil {
		return &Error{Status: resp.StatusCode, Code: "BAD_RESPONSE", Message: "The registry sent a response the UI cannot read: " + err.Error()}
	}
	remember(http.MethodGet, c.Base+path, path, data)
	return nil
}
