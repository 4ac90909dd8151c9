// Package client is the browser's road to Berth: one Client interface with two
// implementations, Berth (the server's /api/v1) and Direct (a registry's /v2 behind a CORS
// proxy, for the static export), and the one connectivity signal the UI watches. Successful
// reads are kept in localStorage, so a page whose server is gone shows the last answer.
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/app/api"
)

// Client is everything the UI asks of its data source.
type Client interface {
	// Repositories returns a page of the catalog, filtered, ordered and cut as q says.
	Repositories(ctx context.Context, q api.RepositoryQuery) (api.RepositoryPage, error)
	// Search finds tags across the registry by digest (sha256:…), by label (name=value or
	// label:name) or by name, in the repositories the caller may read.
	Search(ctx context.Context, query string, limit int) (api.SearchPage, error)
	// TagNames returns every tag of a repository, without details.
	TagNames(ctx context.Context, repository string) (api.TagPage, error)
	// Tags returns a page of a repository's tags with their details.
	Tags(ctx context.Context, repository string, offset, limit int) (api.TagPage, error)
	// AllTags returns every tag of a repository with its details in one answer. Where that
	// is not offered (Direct, or a Berth from before limit=all) it fails with
	// api.CodeDirectMode or api.CodeBadRequest, and the caller asks page by page instead.
	AllTags(ctx context.Context, repository string) (api.TagPage, error)
	// WaitChanges waits (a long poll, up to about 25 s) for a change of a repository's tags
	// after the token since (TagPage.Changes); Direct cannot, and fails with
	// api.CodeDirectMode.
	WaitChanges(ctx context.Context, repository, since string) (api.RepositoryChanges, error)
	// Usage returns what a repository stores and, with del set to a manifest digest, what
	// deleting it would free.
	Usage(ctx context.Context, repository, del string) (api.Usage, error)
	// TagsWithLabel returns the names of a repository's tags whose image has the label
	// (value "" for any value; otherwise the value contains it).
	TagsWithLabel(ctx context.Context, repository, name, value string) ([]string, error)
	// Untagged returns a repository's untagged manifests.
	Untagged(ctx context.Context, repository string) (api.UntaggedPage, error)
	// Manifest returns one manifest in depth; reference is a tag or a digest.
	Manifest(ctx context.Context, repository, reference string) (api.Manifest, error)

	// Session returns who is signed in.
	Session(ctx context.Context) (api.Session, error)
	// SignIn checks the credentials against the registry and starts a session.
	SignIn(ctx context.Context, username, password string) (api.Session, error)
	// SignOut ends the session.
	SignOut(ctx context.Context) error

	// Events returns a page of registry events.
	Events(ctx context.Context, q api.EventQuery) (api.EventPage, error)
	// Stats returns registry-wide pushes and pulls over rng and the most pulled repositories.
	Stats(ctx context.Context, rng string) (api.Stats, error)
	// RepositoryStats returns a repository's pushes and pulls over rng (such as 30d).
	RepositoryStats(ctx context.Context, repository, rng string) (api.RepositoryStats, error)

	// StartJob starts a write operation and returns its id.
	StartJob(ctx context.Context, req api.JobRequest) (string, error)
	// PreviewCleanup returns what a cleanup rule would delete.
	PreviewCleanup(ctx context.Context, rule api.CleanupRule) (api.CleanupPlan, error)
	// Job returns one job.
	Job(ctx context.Context, id string) (api.Job, error)
	// Jobs returns the recent jobs.
	Jobs(ctx context.Context, q api.JobQuery) (api.JobList, error)
	// CancelJob cancels a running job.
	CancelJob(ctx context.Context, id string) error
	// FollowJob reads a job's event stream, calling fn with each event, until the job ends
	// (the last event is then returned) or ctx is done.
	FollowJob(ctx context.Context, id string, fn func(api.JobEvent)) (api.JobEvent, error)

	// ChartVersions lists a repository's chart versions, newest first.
	ChartVersions(ctx context.Context, repository string) (api.ChartVersions, error)
	// Chart returns one chart version in depth.
	Chart(ctx context.Context, repository, version string) (api.Chart, error)

	// ImageContents describes an image (one platform of an index) for the file browser:
	// config, layers with what is indexed, and the build steps.
	ImageContents(ctx context.Context, img Image) (api.ImageContents, error)
	// IndexImage indexes the image's layers not indexed yet, calling fn with each progress
	// event, until every layer is indexed (nil) or one fails.
	IndexImage(ctx context.Context, img Image, fn func(api.IndexEvent)) error
	// LayerFiles returns a page of one layer's entries, whiteouts included, matching query.
	LayerFiles(ctx context.Context, img Image, digest, query string, offset, limit int) (api.LayerFiles, error)
	// Tree returns a directory of the merged filesystem, or with query set the paths matching it.
	Tree(ctx context.Context, img Image, dir, query string) (api.Tree, error)
	// File opens a file of the merged filesystem (layer < 0) or of one layer as text.
	File(ctx context.Context, img Image, path string, layer int) (api.FileContent, error)
	// FileURL is the address that downloads a file's bytes.
	FileURL(img Image, path string, layer int) string
	// SupplyChain returns an image's SBOM packages, vulnerability findings and signatures.
	SupplyChain(ctx context.Context, img Image) (api.SupplyChain, error)
	// Severities counts the vulnerability findings of up to 100 manifests of a repository.
	Severities(ctx context.Context, repository string, digests []string) (api.SeverityBatch, error)
	// Diff compares two images.
	Diff(ctx context.Context, q DiffQuery) (api.ImageDiff, error)
	// Import uploads a docker save or OCI-layout archive into repository (under tag, if
	// set), calling progress as it is sent, and returns the id of the job that pushes it.
	Import(ctx context.Context, repository, tag string, a Archive, progress func(sent, total int64)) (string, error)

	// Reachable reports whether the server answers at all; it never uses stored data.
	Reachable(ctx context.Context) bool
	// Dependencies reports whether the server's registry, database and cache answer it.
	Dependencies(ctx context.Context) (api.Dependencies, error)
}

// New returns the client for a UI served with the given API base URL ("" for same-origin);
// direct selects the registry's /v2 instead of Berth's /api/v1.
func New(base string, direct bool) Client {
	base = strings.TrimRight(base, "/")
	if direct {
		return &Direct{Base: base}
	}
	return &Berth{Base: base}
}

// Offline reports whether err means the server could not be reached.
func Offline(err error) bool { return api.ErrorCode(err) == api.CodeOffline }

// Unauthorized reports whether err means the registry wants (other) credentials.
func Unauthorized(err error) bool { return api.ErrorCode(err).Status() == http.StatusUnauthorized }

// NotFound reports whether err means the repository, tag or manifest does not exist.
func NotFound(err error) bool { return api.ErrorCode(err) == api.CodeNotFound }

// Berth calls Berth's /api/v1.
type Berth struct {
	// Base is prepended to every path, e.g. https://berth.example.com; empty for same-origin.
	Base string
	// Registry, if set, names the registry endpoint browsed (registry.go): catalog reads go
	// to /api/v1/r/{Registry}/….
	Registry string
}

var _ Client = (*Berth)(nil)

// RepositoriesPath is the /api/v1 path of a catalog page.
func RepositoriesPath(q api.RepositoryQuery) string {
	v := url.Values{}
	if q.Query != "" {
		v.Set("q", q.Query)
	}
	if q.Sort != "" {
		v.Set("sort", q.Sort)
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	v.Set("offset", strconv.Itoa(q.Offset))
	v.Set("limit", strconv.Itoa(q.Limit))
	return "/api/v1/repositories?" + v.Encode()
}

// AllTagsAccept is what AllTags accepts: rows, else JSON.
const AllTagsAccept = api.TagRowsType + ", application/json;q=0.9"

// AllTagsPath is the /api/v1 path of every tag of a repository with its details.
func AllTagsPath(repository string) string {
	return "/api/v1/repositories/" + escapePath(repository) + "/tags?limit=all"
}

// FirstTagsPath is the /api/v1 path of a repository's newest limit tags with details.
func FirstTagsPath(repository string, limit int) string {
	return "/api/v1/repositories/" + escapePath(repository) + "/tags?offset=0&limit=" + strconv.Itoa(limit) + "&sort=-created"
}

// TagNamesPath is the /api/v1 path of a repository's tag names, without details.
func TagNamesPath(repository string) string {
	return "/api/v1/repositories/" + escapePath(repository) + "/tags?details=false"
}

// TagsPath is the /api/v1 path of limit tags from offset, in name order, with details.
func TagsPath(repository string, offset, limit int) string {
	return "/api/v1/repositories/" + escapePath(repository) + "/tags?limit=" + strconv.Itoa(limit) + "&offset=" + strconv.Itoa(offset)
}

// ManifestPath is the /api/v1 path of one manifest in depth.
func ManifestPath(repository, reference string) string {
	return "/api/v1/repositories/" + escapePath(repository) + "/manifests/" + url.PathEscape(reference)
}

func (c *Berth) Repositories(ctx context.Context, q api.RepositoryQuery) (api.RepositoryPage, error) {
	var p api.RepositoryPage
	err := c.do(ctx, http.MethodGet, RepositoriesPath(q), nil, &p)
	return p, err
}

func (c *Berth) Search(ctx context.Context, query string, limit int) (api.SearchPage, error) {
	v := url.Values{"q": {query}, "limit": {strconv.Itoa(limit)}}
	var p api.SearchPage
	err := c.do(ctx, http.MethodGet, "/api/v1/search?"+v.Encode(), nil, &p)
	return p, err
}

// AllTags asks for the tags in rows (api.TagRowsType), which wasm decodes ≈18× faster than
// JSON; a server that does not offer them answers JSON, read as before.
func (c *Berth) AllTags(ctx context.Context, repository string) (api.TagPage, error) {
	var p tagRows
	err := c.doWith(ctx, http.MethodGet, AllTagsPath(repository), map[string]string{"Accept": AllTagsAccept}, nil, &p)
	return p.TagPage, err
}

// tagRows is a tag page read from rows or from JSON, whichever the server sent.
type tagRows struct{ api.TagPage }

func (r *tagRows) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &r.TagPage) }

// decodeAs decodes data when its media type is rows, reporting whether it was.
func (r *tagRows) decodeAs(mediaType string, data []byte) (bool, error) {
	if !strings.HasPrefix(mediaType, api.TagRowsType) {
		return false, nil
	}
	page, err := api.ReadTagRows(data)
	r.TagPage = page
	return true, err
}

func (c *Berth) Tags(ctx context.Context, repository string, offset, limit int) (api.TagPage, error) {
	var p api.TagPage
	err := c.do(ctx, http.MethodGet, TagsPath(repository, offset, limit), nil, &p)
	return p, err
}

func (c *Berth) Usage(ctx context.Context, repository, del string) (api.Usage, error) {
	path := "/api/v1/repositories/" + escapePath(repository) + "/usage"
	if del != "" {
		path += "?delete=" + url.QueryEscape(del)
	}
	var u api.Usage
	err := c.do(ctx, http.MethodGet, path, nil, &u)
	return u, err
}

func (c *Berth) TagsWithLabel(ctx context.Context, repository, name, value string) ([]string, error) {
	label := name
	if value != "" {
		label += "=" + value
	}
	var p api.TagPage
	err := c.do(ctx, http.MethodGet, "/api/v1/repositories/"+escapePath(repository)+"/tags?limit=all&label="+url.QueryEscape(label), nil, &p)
	names := make([]string, 0, len(p.Tags))
	for _, t := range p.Tags {
		names = append(names, t.Name)
	}
	return names, err
}

func (c *Berth) Untagged(ctx context.Context, repository string) (api.UntaggedPage, error) {
	var p api.UntaggedPage
	err := c.do(ctx, http.MethodGet, "/api/v1/repositories/"+escapePath(repository)+"/untagged", nil, &p)
	return p, err
}

func (c *Berth) TagNames(ctx context.Context, repository string) (api.TagPage, error) {
	var p api.TagPage
	err := c.do(ctx, http.MethodGet, TagNamesPath(repository), nil, &p)
	return p, err
}

func (c *Berth) Manifest(ctx context.Context, repository, reference string) (api.Manifest, error) {
	var m api.Manifest
	err := c.do(ctx, http.MethodGet, ManifestPath(repository, reference), nil, &m)
	return m, err
}

// Session asks who is signed in; saved pages of anyone else are dropped (SetUser).
func (c *Berth) Session(ctx context.Context) (api.Session, error) {
	var s api.Session
	err := c.do(ctx, http.MethodGet, "/api/v1/session", nil, &s)
	if err == nil {
		SetUser(s.User)
	}
	return s, err
}

func (c *Berth) SignIn(ctx context.Context, username, password string) (api.Session, error) {
	var s api.Session
	err := c.do(ctx, http.MethodPost, "/api/v1/session", api.SignIn{Username: username, Password: password}, &s)
	if err == nil {
		SetUser(s.User)
	}
	return s, err
}

// SignOut ends the session and drops every saved page, even when the server cannot be
// reached: what the user saw must not stay in the browser.
func (c *Berth) SignOut(ctx context.Context) error {
	defer ClearSaved()
	if SignedInWithToken() {
		revokeBearer(ctx)
		return nil
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/session", nil, &api.Session{})
}

// Reachable asks Berth's /healthz.
func (c *Berth) Reachable(ctx context.Context) bool { return reachable(ctx, c.Base+"/healthz") }

// escapePath escapes each segment of a repository name but keeps its slashes.
func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (c *Berth) do(ctx context.Context, method, path string, body, into any) error {
	return c.doWith(ctx, method, path, nil, body, into)
}

// doWith is do with further request headers.
func (c *Berth) doWith(ctx context.Context, method, path string, header map[string]string, body, into any) error {
	path, err := c.scoped(method, path)
	if err != nil {
		return err
	}
	req := request{method: method, url: c.Base + path, header: map[string]string{"Accept": "application/json"}}
	for k, v := range header {
		req.header[k] = v
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &api.Error{Code: api.CodeBadRequest, Message: err.Error()}
		}
		req.body = b
		req.header["Content-Type"] = "application/json"
	}
	if token := bearerToken(); token != "" { // the static site's sign-in (oauth.go)
		req.header["Authorization"] = "Bearer " + token
	}
	resp, err := send(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if recallOffline(method, c.Base, path, into) { // offline: the last answer stored, if any
			return nil
		}
		return &api.Error{Code: api.CodeOffline, Message: "Cannot reach the Berth server. Check your connection and try again."}
	}
	defer resp.body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.body, 64<<20))
	if err != nil {
		return &api.Error{Code: api.CodeOffline, Message: "The connection to the Berth server broke: " + err.Error()}
	}
	if unreachable(resp.status, data) { // a gateway says Berth is down
		if recallOffline(method, c.Base, path, into) {
			return nil
		}
		return &api.Error{Status: resp.status, Code: api.CodeOffline, Message: fmt.Sprintf("The Berth server is not answering (%s from the gateway in front of it).", resp.Status())}
	}
	setStatus(false, zeroTime)
	if resp.status >= 400 {
		err := errorFrom(resp, data)
		noteError(api.ErrorCode(err))
		return err
	}
	if resp.status == http.StatusNoContent || into == nil {
		return nil
	}
	if d, ok := into.(rowsDecoder); ok && resp.header != nil {
		if done, err := d.decodeAs(resp.header("Content-Type"), data); done {
			if err != nil {
				return &api.Error{Status: resp.status, Code: api.CodeBadResponse, Message: "The server sent a response the UI cannot read: " + err.Error()}
			}
			rememberRows(method, c.Base, path, data)
			return nil
		}
	}
	if err := json.Unmarshal(data, into); err != nil {
		return &api.Error{Status: resp.status, Code: api.CodeBadResponse, Message: "The server sent a response the UI cannot read: " + err.Error()}
	}
	remember(method, c.Base, path, data)
	return nil
}

// errorFrom reads an error answer: Berth's JSON error body, or the status alone.
func errorFrom(resp *response, data []byte) error {
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
		return &api.Error{Status: resp.status, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return &api.Error{Status: resp.status, Code: api.CodeForStatus(resp.status), Message: fmt.Sprintf("The server answered %s.", resp.Status())}
}

// reachable reports whether GET url gets any answer below 500 (401 counts as an answer).
func reachable(ctx context.Context, u string) bool {
	resp, err := send(ctx, request{method: http.MethodGet, url: u})
	if err != nil {
		return false
	}
	resp.body.Close()
	return resp.status < 500
}
