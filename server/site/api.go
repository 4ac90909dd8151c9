package site

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/cors"

	apiv1 "github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/catalog"
	"github.com/berth-registry/berth/server/httperr"
)

// routes mounts one group of routes with the wrappers every route of the API uses.
type routes struct {
	mux *table
	s   Services
	// client puts the client's address into the request; principal also its identity.
	client, principal func(http.Handler) http.Handler
	// api is what every /api/v1 route goes through: CORS, then the caller's identity.
	api func(http.HandlerFunc) http.Handler
	// read is api for reads answered from the registry: one deadline covers the whole call —
	// every registry request it makes, their retries and bodies — so a slow registry gives a
	// 504 in --upstream-timeout, not in several times that.
	read func(http.HandlerFunc) http.Handler
	cors *cors.Cors
}

// API mounts the /api/v1 route table on mux — every endpoint of the API, in one place, and
// the sign-in endpoints browsers use — for the services that are set; c applies CORS. It
// returns the patterns it mounted.
func API(mux *http.ServeMux, s Services, c *cors.Cors) []string {
	t := &table{ServeMux: mux}
	mountAPI(t, s, c)
	return t.patterns
}

func mountAPI(mux *table, s Services, c *cors.Cors) {
	if c == nil {
		c = CORS(nil)
	}
	if s.Sessions != nil && s.Authenticator == nil {
		panic("site: Sessions need an Authenticator")
	}
	trusted, err := access.ParseProxies(s.Config.TrustedProxies)
	if err != nil {
		panic("site: --trusted-proxies: " + err.Error()) // config.Load checked them
	}
	rt := routes{mux: mux, s: s, cors: c}
	rt.client = func(h http.Handler) http.Handler { return withClient(trusted, h) }
	rt.principal = func(h http.Handler) http.Handler { return rt.client(identify(s)(h)) }
	rt.api = func(h http.HandlerFunc) http.Handler { return c.Handler(rt.principal(h)) }
	rt.read = func(h http.HandlerFunc) http.Handler { return rt.api(deadline(s.Config.UpstreamTimeout, h)) }
	rt.session()
	rt.catalog()
	rt.jobs()
	rt.scans()
	rt.activity()
	rt.charts()
	rt.contents()
	rt.accounts()
	if r := rt.s.Replication; r != nil {
		for pattern, h := range r.Routes() { // administrators only: the handlers check
			rt.mux.Handle(pattern, rt.api(h))
		}
	}
	rt.browser()
	mux.Handle("/api/v1/", c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unrouted(mux.ServeMux, w, r)
	})))
}

func (rt routes) session() {
	if s := rt.s.Sessions; s != nil {
		rt.mux.Handle("GET /api/v1/session", rt.cors.Handler(rt.principal(whoami(rt.s)))) // whoami.go
		rt.mux.Handle("POST /api/v1/session", rt.cors.Handler(rt.client(http.HandlerFunc(s.ServeSignIn))))
		rt.mux.Handle("DELETE /api/v1/session", rt.cors.Handler(http.HandlerFunc(s.ServeSignOut)))
	}
}

func (rt routes) catalog() {
	cat := rt.s.Catalog
	if cat == nil {
		return
	}
	rt.mux.Handle("GET /api/v1/repositories", rt.read(cat.ServeRepositories))
	if set := rt.s.Catalogs; set != nil {
		rt.mux.Handle("GET /api/v1/search", rt.read(set.ServeSearch))
	} else {
		rt.mux.Handle("GET /api/v1/search", rt.read(cat.ServeSearch))
	}
	rt.mux.Handle("GET /api/v1/index", rt.api(cat.ServeIndexProgress))
	rt.mux.Handle("GET /api/v1/repositories/{path...}", rt.read(repositoryPages(cat).serve))
	rt.registries()
}

// repositoryPages routes a repository's read pages to cat.
func repositoryPages(cat *catalog.Service) repositoryRoutes {
	repo := func(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { h(w, r, r.PathValue("repository")) }
	}
	return repositoryRoutes{
		{"manifests/{ref}", func(w http.ResponseWriter, r *http.Request) {
			cat.ServeManifest(w, r, r.PathValue("repository"), r.PathValue("ref"))
		}},
		{"tags", repo(cat.ServeTags)},
		{"usage", repo(cat.ServeUsage)},
		{"untagged", repo(cat.ServeUntagged)},
		{"changes", repo(cat.ServeChanges)},
	}
}

// registries: the same read pages for any registry endpoint, /api/v1/r/{registry}/…, each
// through that registry's own catalog service ("main" is the main registry's).
func (rt routes) registries() {
	set := rt.s.Catalogs
	if set == nil {
		return
	}
	in := func(h func(cat *catalog.Service, w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			cat, err := set.For(r.Context(), r.PathValue("registry"))
			if err != nil {
				httperr.Write(w, r, err)
				return
			}
			h(cat, w, r)
		}
	}
	rt.mux.Handle("GET /api/v1/r/{registry}/repositories", rt.read(in(func(cat *catalog.Service, w http.ResponseWriter, r *http.Request) {
		cat.ServeRepositories(w, r)
	})))
	rt.mux.Handle("GET /api/v1/r/{registry}/repositories/{path...}", rt.read(in(func(cat *catalog.Service, w http.ResponseWriter, r *http.Request) {
		repositoryPages(cat).serve(w, r)
	})))
}

func (rt routes) jobs() {
	jobs := rt.s.Jobs
	if jobs == nil {
		return
	}
	// The jobs handler authorizes what it decoded, before anything is queued or read.
	rt.mux.Handle("POST /api/v1/jobs", rt.api(jobs.ServeStart))
	rt.mux.Handle("POST /api/v1/imports", rt.api(jobs.ServeImport))
	rt.mux.Handle("GET /api/v1/jobs", rt.api(jobs.ServeList))
	rt.mux.Handle("GET /api/v1/jobs/{id}", rt.api(jobs.ServeJob))
	rt.mux.Handle("GET /api/v1/jobs/{id}/events", rt.api(jobs.ServeEvents))
	rt.mux.Handle("DELETE /api/v1/jobs/{id}", rt.api(jobs.ServeCancel))
}

// scans: Berth's own scan reports, SBOMs and the vulnerability database (server/scan).
func (rt routes) scans() {
	sc := rt.s.Scans
	if sc == nil {
		return
	}
	rt.mux.Handle("POST /api/v1/scans", rt.api(sc.ServeStart))
	rt.mux.Handle("GET /api/v1/scans/{digest}", rt.read(sc.ServeReport))
	rt.mux.Handle("GET /api/v1/scans/{digest}/sbom", rt.read(sc.ServeSBOM))
	rt.mux.Handle("GET /api/v1/vulndb", rt.read(sc.ServeDatabase))
}

func (rt routes) activity() {
	a := rt.s.Activity
	if a == nil || rt.s.Catalog == nil {
		return
	}
	// Activity names repositories: only someone who may read the catalog sees it.
	activity := func(h http.HandlerFunc) http.Handler { return rt.read(requireCatalog(rt.s.Catalog, h)) }
	rt.mux.Handle("GET /api/v1/events", activity(a.ServeEvents))
	rt.mux.Handle("GET /api/v1/stats", activity(a.ServeStats))
	rt.mux.Handle("GET /api/v1/stats/{repo...}", activity(a.ServeRepositoryStats))
}

// charts: chart pages' data, the classic chart repository helm reads, and the ChartMuseum
// API helm cm-push writes to.
func (rt routes) charts() {
	ch := rt.s.Charts
	if ch == nil {
		return
	}
	chart := func(h http.HandlerFunc) http.Handler {
		return rt.cors.Handler(rt.principal(readOnly(rt.s.Config.ReadOnly, h)))
	}
	// "versions" before "versions/{version}": "a/versions/versions" lists "a/versions".
	rt.mux.Handle("GET /api/v1/charts/{path...}", chart(repositoryRoutes{
		{"versions", ch.ServeVersions},
		{"versions/{version}", ch.ServeVersion},
	}.serve))
	rt.mux.Handle("GET /charts/index.yaml", chart(ch.ServeIndex))
	rt.mux.Handle("GET /charts/{file}", chart(ch.ServeArchive))
	rt.mux.Handle("GET /api/charts", chart(ch.ServeMuseumList))
	rt.mux.Handle("GET /api/charts/{name}", chart(ch.ServeMuseumChart))
	rt.mux.Handle("GET /api/charts/{name}/{version}", chart(ch.ServeMuseumVersion))
	rt.mux.Handle("POST /api/charts", chart(ch.ServeUpload))
	rt.mux.Handle("DELETE /api/charts/{name}/{version}", chart(ch.ServeDelete))
}

// contents: layer file indexes, the merged filesystem, files, build steps, supply chain.
// No deadline: indexing a layer streams for as long as it takes.
func (rt routes) contents() {
	ct := rt.s.Contents
	if ct == nil {
		return
	}
	rt.mux.Handle("GET /api/v1/contents/{path...}", rt.api(repositoryRoutes{
		{"-/image/{ref}", ct.ServeImage},
		{"-/image/{ref}/index", ct.ServeIndex},
		{"-/image/{ref}/layers/{digest}", ct.ServeLayer},
		{"-/image/{ref}/tree", ct.ServeTree},
		{"-/image/{ref}/file", ct.ServeFile},
		{"-/image/{ref}/supply-chain", ct.ServeSupplyChain},
		{"-/severities", ct.ServeSeverities},
	}.serve))
	rt.mux.Handle("GET /api/v1/diff", rt.api(ct.ServeDiff))
}

// accounts: users, teams, namespaces, robots, tokens, the audit log and key rotation
// (--access-control). Each handler checks who may call it.
func (rt routes) accounts() {
	if rt.s.Access == nil {
		return
	}
	a := rt.s.Access.API
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /api/v1/access":                              a.ServeAccess, // anyone, anonymous too
		"GET /api/v1/users":                               a.ServeUsers,
		"POST /api/v1/users":                              a.ServeCreateUser,
		"PATCH /api/v1/users/{name}":                      a.ServeUpdateUser,
		"GET /api/v1/teams":                               a.ServeTeams,
		"POST /api/v1/teams":                              a.ServeCreateTeam,
		"GET /api/v1/teams/{name}":                        a.ServeTeam,
		"DELETE /api/v1/teams/{name}":                     a.ServeDeleteTeam,
		"PUT /api/v1/teams/{name}/members/{user}":         a.ServeTeamMember,
		"DELETE /api/v1/teams/{name}/members/{user}":      a.ServeTeamMember,
		"GET /api/v1/namespaces":                          a.ServeNamespaces,
		"POST /api/v1/namespaces":                         a.ServeCreateNamespace,
		"GET /api/v1/namespaces/{name}":                   a.ServeNamespace,
		"PATCH /api/v1/namespaces/{name}":                 a.ServeUpdateNamespace,
		"DELETE /api/v1/namespaces/{name}":                a.ServeDeleteNamespace,
		"PUT /api/v1/namespaces/{name}/members/{user}":    a.ServeNamespaceMember,
		"DELETE /api/v1/namespaces/{name}/members/{user}": a.ServeNamespaceMember,
		"GET /api/v1/namespaces/{name}/robots":            a.ServeRobots,
		"POST /api/v1/namespaces/{name}/robots":           a.ServeCreateRobot,
		"DELETE /api/v1/namespaces/{name}/robots/{robot}": a.ServeRevokeRobot,
		"GET /api/v1/tokens":                              a.ServeTokens,
		"POST /api/v1/tokens":                             a.ServeCreateToken,
		"DELETE /api/v1/tokens/{id}":                      a.ServeRevokeToken,
		"GET /api/v1/audit":                               a.ServeAudit,
		"POST /api/v1/keys/rotate":                        a.ServeRotateKeys,
	} {
		rt.mux.Handle(pattern, rt.api(h))
	}
	if g := rt.s.Governance; g != nil {
		for pattern, h := range g.Routes() { // immutable tags, quotas (server/governance/api.go)
			rt.mux.Handle(pattern, rt.api(h))
		}
		if w := rt.s.Webhooks; w != nil { // outbound webhooks (server/webhooks/api.go)
			for pattern, h := range w.Routes(g.MayManage) {
				rt.mux.Handle(pattern, rt.api(h))
			}
		}
		if ret := rt.s.Retention; ret != nil { // scheduled retention (server/retention/api.go)
			for pattern, h := range ret.Routes(g.MayManage) {
				rt.mux.Handle(pattern, rt.api(h))
			}
		}
	}
}

// browser: the OpenID Connect sign-in (when configured) and the static site's authorization
// server (/auth/authorize, and /auth/oauth/token and /revoke, which its origin posts to).
func (rt routes) browser() {
	c, sessions := rt.s.Access, rt.s.Sessions
	if c == nil || sessions == nil {
		return
	}
	if c.OIDC != nil {
		rt.mux.Handle("GET /auth/oidc/login", http.HandlerFunc(c.OIDC.ServeLogin))
		rt.mux.Handle("GET /auth/oidc/callback", c.OIDC.ServeCallback(sessions))
	}
	rt.mux.Handle("GET /auth/authorize", rt.principal(c.OAuth.ServeAuthorize(sessions)))
	rt.mux.Handle("/auth/oauth/token", rt.cors.Handler(rt.client(auth.PostOnly(c.OAuth.ServeToken))))
	rt.mux.Handle("/auth/oauth/revoke", rt.cors.Handler(rt.client(auth.PostOnly(c.OAuth.ServeRevoke))))
}

// Tokens mounts the registry token service (/auth/token, and the keys registries verify its
// tokens with): on Berth's own table, and on the embedded registry's listener.
func Tokens(mux *http.ServeMux, t *auth.TokenServer, trusted []netip.Prefix) {
	tokens(&table{ServeMux: mux}, t, trusted)
}

func tokens(mux *table, t *auth.TokenServer, trusted []netip.Prefix) {
	// Wherever they are mounted (the embedded registry's own port too), token requests are
	// throttled and audited by the client's address.
	mux.Handle("/auth/token", withClient(trusted, http.HandlerFunc(t.ServeToken)))
	mux.Handle("GET /auth/certs.pem", http.HandlerFunc(t.ServeBundle))
	mux.Handle("GET /auth/jwks.json", http.HandlerFunc(t.ServeJWKS))
}

// repositoryRoute is one endpoint under a repository name: tail is what follows the name,
// segment by segment, with {wildcards} ("manifests/{ref}", "-/image/{ref}/tree").
type repositoryRoute struct {
	tail string
	h    http.HandlerFunc
}

// repositoryRoutes serves {prefix}/{repository}/{tail} from a {path...} pattern. Repository
// names contain slashes, so ServeMux patterns cannot split the name from what follows it;
// this is the one matcher that does, for every per-repository endpoint: the first route
// whose tail matches the path's last segments takes it, the segments before being the
// repository. It sets the path values "repository" and the tail's wildcards; handlers
// validate them before anything is sent.
type repositoryRoutes []repositoryRoute

func (rr repositoryRoutes) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(r.PathValue("path"), "/")
	for _, rt := range rr {
		tail := strings.Split(rt.tail, "/")
		n := len(segs) - len(tail)
		if n < 1 || segs[0] == "" || !matchTail(tail, segs[n:]) {
			continue
		}
		for i, t := range tail {
			if strings.HasPrefix(t, "{") {
				r.SetPathValue(strings.Trim(t, "{}"), segs[n+i])
			}
		}
		r.SetPathValue("repository", strings.Join(segs[:n], "/"))
		rt.h(w, r)
		return
	}
	notFound(w, r)
}

// matchTail reports whether segs are tail's segments: literals equal, a {wildcard} any one.
func matchTail(tail, segs []string) bool {
	for i, t := range tail {
		if !strings.HasPrefix(t, "{") && t != segs[i] {
			return false
		}
	}
	return true
}

// deadline bounds a request's context: past it, registry calls end with 504.
func deadline(d time.Duration, next http.HandlerFunc) http.HandlerFunc {
	if d <= 0 {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next(w, r.WithContext(ctx))
	}
}

// readOnly refuses every method but GET and HEAD when Berth runs with --read-only.
func readOnly(on bool, next http.Handler) http.Handler {
	if !on {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			httperr.Write(w, r, httperr.New(apiv1.CodeReadOnly, "Berth runs read-only (--read-only): write operations are disabled."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unrouted answers an /api request no route took: 405 with Allow when the path exists for
// other methods, 404 otherwise — as JSON, never ServeMux's plain text.
func unrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/v1/" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		httperr.Write(w, r, httperr.New(apiv1.CodeMethodNotAllowed, r.Method+" is not allowed here; use "+strings.Join(allow, " or ")))
		return
	}
	notFound(w, r)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httperr.Write(w, r, httperr.New(apiv1.CodeNotFound, "No such API endpoint: "+r.Method+" "+r.URL.Path))
}

// requireCatalog lets a request through only if its principal may read the catalog.
func requireCatalog(cat *catalog.Service, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := cat.CanList(r.Context()); err != nil {
			httperr.Write(w, r, err)
			return
		}
		next(w, r)
	}
}
