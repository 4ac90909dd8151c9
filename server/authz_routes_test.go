package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// The route sweep: every pattern Berth's route table mounts has a row here saying who may
// pass its authorization, and is asked as anonymous, a plain user, the owner of a namespace,
// an administrator and an administrator's read-only token. A route added without a row, or a
// row left for a route gone, fails the test.

// level is the least subject that passes a route's authorization.
type level int

const (
	anyone   level = iota // anonymous too (what it answers may be filtered)
	signedIn              // any signed-in user
	member                // the owner of web (alice), an administrator
	admin                 // administrators only
	nobody                // no account: a shared secret only (the registry's notifications)
)

// routeRow is how one route is asked: path (JOB, DIGEST filled in when asked), a JSON body
// for writes, who passes. keep: only refusals are asked, a pass would change what the rest
// of the test relies on. hides: a refusal may be a 404 (it does not say what exists).
// manage: a read needing the Manage action, which read-only tokens never hold. read: a POST
// that only needs pull (a read-only token passes). early: the body names what is asked for,
// so an invalid one is a 400 before any authorization. skip: why the sweep does not ask it.
type routeRow struct {
	path, body                       string
	level                            level
	keep, hides, manage, read, early bool
	skip                             string
}

const ns = "/api/v1/namespaces/web"

// routeRows are the rows, by the route table's pattern.
var routeRows = map[string]routeRow{
	"/":                                                      {path: "/", level: anyone},
	"/web/":                                                  {path: "/web/berth.css", level: anyone},
	"/v2/":                                                   {skip: "the registry decides: TestAuthorizationTable's v2 entries"},
	"/v2":                                                    {skip: "the registry decides: TestAuthorizationTable's v2 entries"},
	"/api/":                                                  {path: "/api/nothing", level: anyone},
	"/api/v1/":                                               {path: "/api/v1/nothing", level: anyone},
	"/auth/":                                                 {path: "/auth/nothing", level: anyone},
	"/auth/token":                                            {path: "/auth/token?service=berth", level: anyone},
	"GET /auth/certs.pem":                                    {path: "/auth/certs.pem", level: anyone},
	"GET /auth/jwks.json":                                    {path: "/auth/jwks.json", level: anyone},
	"GET /auth/authorize":                                    {path: "/auth/authorize", level: anyone},
	"/auth/oauth/token":                                      {path: "/auth/oauth/token", body: "{}", level: anyone},
	"/auth/oauth/revoke":                                     {path: "/auth/oauth/revoke", body: "{}", level: anyone},
	"POST /events":                                           {path: "/events", body: "{}", level: nobody},
	"GET /metrics":                                           {path: "/metrics", level: anyone},
	"GET /healthz":                                           {path: "/healthz", level: anyone},
	"GET /readyz":                                            {path: "/readyz", level: anyone},
	"GET /healthz/deps":                                      {path: "/healthz/deps", level: anyone},
	"GET /api/v1/session":                                    {path: "/api/v1/session", level: anyone},
	"POST /api/v1/session":                                   {path: "/api/v1/session", body: `{"username":"vic","password":"` + tablePassword + `"}`, level: anyone},
	"DELETE /api/v1/session":                                 {path: "/api/v1/session", level: anyone},
	"GET /api/v1/access":                                     {path: "/api/v1/access", level: anyone},
	"GET /api/v1/repositories":                               {path: "/api/v1/repositories", level: anyone},
	"GET /api/v1/search":                                     {path: "/api/v1/search?q=app", level: anyone},
	"GET /api/v1/index":                                      {path: "/api/v1/index", level: anyone},
	"GET /api/v1/repositories/{path...}":                     {path: "/api/v1/repositories/web/app/tags", level: member},
	"POST /api/v1/jobs":                                      {path: "/api/v1/jobs", body: `{"kind":"delete","repository":"web/app","references":["nope"]}`, level: member},
	"POST /api/v1/imports":                                   {path: "/api/v1/imports?repository=web/app", body: "{}", level: member, early: true},
	"GET /api/v1/jobs":                                       {path: "/api/v1/jobs", level: signedIn},
	"GET /api/v1/jobs/{id}":                                  {path: "/api/v1/jobs/JOB", level: member, hides: true},
	"GET /api/v1/jobs/{id}/events":                           {path: "/api/v1/jobs/JOB/events", level: member, hides: true},
	"DELETE /api/v1/jobs/{id}":                               {path: "/api/v1/jobs/JOB", level: member, hides: true},
	"POST /api/v1/scans":                                     {path: "/api/v1/scans", body: `{"repository":"web/app","reference":"v1"}`, level: member},
	"GET /api/v1/scans/{digest}":                             {path: "/api/v1/scans/DIGEST?repository=web/app", level: member},
	"GET /api/v1/scans/{digest}/sbom":                        {path: "/api/v1/scans/DIGEST/sbom?repository=web/app", level: member},
	"GET /api/v1/vulndb":                                     {path: "/api/v1/vulndb", level: anyone},
	"GET /api/v1/events":                                     {path: "/api/v1/events", level: anyone},
	"GET /api/v1/stats":                                      {path: "/api/v1/stats", level: anyone},
	"GET /api/v1/stats/{repo...}":                            {path: "/api/v1/stats/web/app", level: member},
	"GET /api/v1/charts/{path...}":                           {path: "/api/v1/charts/web/app/versions", level: member},
	"GET /charts/index.yaml":                                 {path: "/charts/index.yaml", level: anyone},
	"GET /charts/{file}":                                     {path: "/charts/app-1.0.0.tgz", level: anyone},
	"GET /api/charts":                                        {path: "/api/charts", level: anyone},
	"GET /api/charts/{name}":                                 {path: "/api/charts/app", level: anyone},
	"GET /api/charts/{name}/{version}":                       {path: "/api/charts/app/1.0.0", level: anyone},
	"POST /api/charts":                                       {path: "/api/charts", body: "{}", level: signedIn, early: true},
	"DELETE /api/charts/{name}/{version}":                    {path: "/api/charts/app/1.0.0", level: admin},
	"GET /api/v1/contents/{path...}":                         {path: "/api/v1/contents/web/app/-/image/v1", level: member},
	"GET /api/v1/diff":                                       {path: "/api/v1/diff?from=web/app:v1&to=web/app:v1", level: member},
	"GET /api/v1/users":                                      {path: "/api/v1/users", level: admin},
	"POST /api/v1/users":                                     {path: "/api/v1/users", body: `{"name":"sweep","password":"the sweep's long password"}`, level: admin},
	"PATCH /api/v1/users/{name}":                             {path: "/api/v1/users/vic", body: `{"admin":false}`, level: admin},
	"GET /api/v1/teams":                                      {path: "/api/v1/teams", level: signedIn},
	"POST /api/v1/teams":                                     {path: "/api/v1/teams", body: `{"name":"sweep"}`, level: signedIn},
	"GET /api/v1/teams/{name}":                               {path: "/api/v1/teams/web", level: member, hides: true},
	"DELETE /api/v1/teams/{name}":                            {path: "/api/v1/teams/web", level: member, keep: true, hides: true},
	"PUT /api/v1/teams/{name}/members/{user}":                {path: "/api/v1/teams/web/members/vic", body: `{"role":"viewer"}`, level: member, hides: true},
	"DELETE /api/v1/teams/{name}/members/{user}":             {path: "/api/v1/teams/web/members/nobody", level: member, hides: true},
	"GET /api/v1/namespaces":                                 {path: "/api/v1/namespaces", level: signedIn},
	"POST /api/v1/namespaces":                                {path: "/api/v1/namespaces", body: `{"name":"sweep","user":"eve"}`, level: admin},
	"GET /api/v1/namespaces/{name}":                          {path: ns, level: member, hides: true},
	"PATCH /api/v1/namespaces/{name}":                        {path: ns, body: `{"description":"swept"}`, level: member, hides: true},
	"DELETE /api/v1/namespaces/{name}":                       {path: "/api/v1/namespaces/nope", level: admin},
	"PUT /api/v1/namespaces/{name}/members/{user}":           {path: ns + "/members/vic", body: `{"role":"viewer"}`, level: member, hides: true},
	"DELETE /api/v1/namespaces/{name}/members/{user}":        {path: ns + "/members/nobody", level: member, hides: true},
	"GET /api/v1/namespaces/{name}/robots":                   {path: ns + "/robots", level: member, hides: true, manage: true},
	"POST /api/v1/namespaces/{name}/robots":                  {path: ns + "/robots", body: `{"name":"sweep","role":"viewer"}`, level: member, hides: true},
	"DELETE /api/v1/namespaces/{name}/robots/{robot}":        {path: ns + "/robots/nope", level: member, hides: true},
	"GET /api/v1/tokens":                                     {path: "/api/v1/tokens", level: signedIn},
	"POST /api/v1/tokens":                                    {path: "/api/v1/tokens", body: `{"name":"sweep"}`, level: signedIn},
	"DELETE /api/v1/tokens/{id}":                             {path: "/api/v1/tokens/nope", level: signedIn},
	"GET /api/v1/audit":                                      {path: "/api/v1/audit", level: admin},
	"POST /api/v1/keys/rotate":                               {path: "/api/v1/keys/rotate", body: "{}", level: admin, keep: true},
	"GET /api/v1/namespaces/{name}/immutable":                {path: ns + "/immutable", level: member, manage: true},
	"POST /api/v1/namespaces/{name}/immutable":               {path: ns + "/immutable", body: `{"patterns":["^sweep-"]}`, level: member},
	"PATCH /api/v1/namespaces/{name}/immutable/{id}":         {path: ns + "/immutable/999999", body: `{"lifted":true}`, level: admin},
	"DELETE /api/v1/namespaces/{name}/immutable/{id}":        {path: ns + "/immutable/999999", level: admin},
	"GET /api/v1/namespaces/{name}/pull-policy":              {path: ns + "/pull-policy", level: member, manage: true},
	"PUT /api/v1/namespaces/{name}/pull-policy":              {path: ns + "/pull-policy", body: `{"severity":"","signed":false}`, level: admin},
	"GET /api/v1/namespaces/{name}/quota":                    {path: ns + "/quota", level: member, manage: true},
	"PUT /api/v1/namespaces/{name}/quota":                    {path: ns + "/quota", body: `{"storageLimit":"","tagLimit":0}`, level: admin},
	"GET /api/v1/namespaces/{name}/webhooks":                 {path: ns + "/webhooks", level: member, manage: true},
	"POST /api/v1/namespaces/{name}/webhooks":                {path: ns + "/webhooks", body: `{"url":"ftp://hooks.example/x","events":["push"],"format":"json"}`, level: member},
	"DELETE /api/v1/namespaces/{name}/webhooks/{id}":         {path: ns + "/webhooks/nope", level: member},
	"POST /api/v1/namespaces/{name}/webhooks/{id}/test":      {path: ns + "/webhooks/nope/test", body: "{}", level: member},
	"GET /api/v1/namespaces/{name}/webhooks/{id}/deliveries": {path: ns + "/webhooks/nope/deliveries", level: member, manage: true},
	"GET /api/v1/webhooks":                                   {path: "/api/v1/webhooks", level: admin},
	"POST /api/v1/webhooks":                                  {path: "/api/v1/webhooks", body: `{"url":"ftp://hooks.example/x","events":["push"],"format":"json"}`, level: admin},
	"DELETE /api/v1/webhooks/{id}":                           {path: "/api/v1/webhooks/nope", level: admin},
	"POST /api/v1/webhooks/{id}/test":                        {path: "/api/v1/webhooks/nope/test", body: "{}", level: admin},
	"GET /api/v1/webhooks/{id}/deliveries":                   {path: "/api/v1/webhooks/nope/deliveries", level: admin},
	"GET /api/v1/namespaces/{name}/retention":                {path: ns + "/retention", level: member, manage: true},
	"POST /api/v1/namespaces/{name}/retention":               {path: ns + "/retention", body: `{"repositories":"web/*","rule":{"include":"^nope$"},"every":"24h"}`, level: member},
	"DELETE /api/v1/namespaces/{name}/retention/{id}":        {path: ns + "/retention/nope", level: member},
	"GET /api/v1/namespaces/{name}/retention/{id}/preview":   {path: ns + "/retention/nope/preview", level: member, manage: true},
	"GET /api/v1/namespaces/{name}/retention/{id}/runs":      {path: ns + "/retention/nope/runs", level: member, manage: true},
	"GET /api/v1/r/{registry}/repositories":                  {path: "/api/v1/r/nope/repositories", level: admin, hides: true},
	"GET /api/v1/r/{registry}/repositories/{path...}":        {path: "/api/v1/r/nope/repositories/web/app/tags", level: admin, hides: true},
	"GET /api/v1/registries":                                 {path: "/api/v1/registries", level: admin},
	"POST /api/v1/registries":                                {path: "/api/v1/registries", body: `{"name":"sweep","url":"https://registry.example"}`, level: admin},
	"DELETE /api/v1/registries/{name}":                       {path: "/api/v1/registries/nope", level: admin},
	"POST /api/v1/registries/{name}/test":                    {path: "/api/v1/registries/nope/test", body: "{}", level: admin},
	"GET /api/v1/replications":                               {path: "/api/v1/replications", level: admin},
	"POST /api/v1/replications":                              {path: "/api/v1/replications", body: `{"name":"sweep","source":"main","destination":"nope"}`, level: admin},
	"GET /api/v1/replications/{id}":                          {path: "/api/v1/replications/nope", level: admin},
	"PUT /api/v1/replications/{id}":                          {path: "/api/v1/replications/nope", body: "{}", level: admin},
	"DELETE /api/v1/replications/{id}":                       {path: "/api/v1/replications/nope", level: admin},
	"POST /api/v1/replications/{id}/run":                     {path: "/api/v1/replications/nope/run", body: "{}", level: admin},
	"GET /api/v1/replications/{id}/runs":                     {path: "/api/v1/replications/nope/runs", level: admin},
}

// sweeper is one subject of the sweep: the highest level it passes, and whether it is a
// read-only token (refused every write).
type sweeper struct {
	name     string
	w        who
	passes   level
	readOnly bool
}

// testRouteSweep asks every route of b's table as every sweeper.
func testRouteSweep(t *testing.T, b *tableBerth, subjects map[string]who) {
	patterns := b.root.Patterns()
	for _, p := range patterns {
		if _, ok := routeRows[p]; !ok {
			t.Errorf("route %q has no row in routeRows: say who may pass it", p)
		}
	}
	for p := range routeRows {
		if !strings.Contains(strings.Join(patterns, "\n")+"\n", p+"\n") {
			t.Errorf("routeRows has %q, which the route table does not mount", p)
		}
	}
	fill := sweepFiller(t, b, subjects)
	sweepers := []sweeper{
		{"anonymous", subjects["anonymous"], anyone, false},
		{"plain user eve", subjects["other eve"], signedIn, false},
		{"read-only token of admin", readOnlyAdmin(t, b, subjects["admin"]), admin, true},
		{"owner alice", subjects["owner alice"], member, false},
		{"admin", subjects["admin"], admin, false},
	}
	n := 0
	for _, s := range sweepers {
		for _, p := range patterns {
			row := routeRows[p]
			if row.skip != "" || row.path == "" {
				continue
			}
			method := http.MethodGet
			if m, _, ok := strings.Cut(p, " "); ok && strings.HasPrefix(p, m+" /") {
				method = m
			} else if row.body != "" {
				method = http.MethodPost
			}
			write := method != http.MethodGet && method != http.MethodHead && !row.read
			want := row.level <= s.passes && !(s.readOnly && row.level > anyone && (write || row.manage))
			if want && row.keep {
				continue
			}
			n++
			var body *strings.Reader
			if row.body != "" {
				body = strings.NewReader(row.body)
			}
			path := fill.Replace(row.path)
			code, out := b.doBody(t, s.w, method, path, body)
			refused := code == http.StatusUnauthorized || code == http.StatusForbidden ||
				(row.hides && code == http.StatusNotFound) || (row.early && code == http.StatusBadRequest)
			if code >= 500 || (want && (code == http.StatusUnauthorized || code == http.StatusForbidden)) || (!want && !refused) {
				t.Errorf("%s: %s %s: %d %.200s; want passed=%v", s.name, method, path, code, out, want)
			}
		}
	}
	t.Logf("%d route cases", n)
	leakedToken(t, b, subjects["PAT of dev"])
}

// leakedToken: a personal access token (not read-only) works for registry work, yet mints
// no token and changes nothing of its account, even with the account's password in the body.
func leakedToken(t *testing.T, b *tableBerth, pat who) {
	t.Helper()
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/tokens", `{"name":"leaked"}`},
		{"PATCH", "/api/v1/users/dev", `{"password":"a new long password for dev","currentPassword":"` + tablePassword + `"}`},
		{"PATCH", "/api/v1/users/dev", `{"admin":true}`},
	} {
		code, out := b.do(t, pat, c.method, c.path, "application/json", strings.NewReader(c.body))
		if code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("a leaked token: %s %s: %d %.200s, want 403", c.method, c.path, code, out)
		}
	}
}

// doBody is do with an optional JSON body.
func (b *tableBerth) doBody(t *testing.T, w who, method, path string, body *strings.Reader) (int, []byte) {
	t.Helper()
	if body == nil {
		return b.do(t, w, method, path, "", nil)
	}
	return b.do(t, w, method, path, "application/json", body)
}

// sweepFiller starts a job as alice and reads web/app:v1's digest: the values of JOB and
// DIGEST in the rows' paths.
func sweepFiller(t *testing.T, b *tableBerth, subjects map[string]who) *strings.Replacer {
	t.Helper()
	code, out := b.do(t, subjects["owner alice"], "POST", "/api/v1/jobs", "application/json",
		strings.NewReader(`{"kind":"delete","repository":"web/app","references":["nope"]}`))
	var job api.Job
	if err := json.Unmarshal(out, &job); err != nil || code != http.StatusAccepted || job.ID == "" {
		t.Fatalf("alice's job: %d %s", code, out)
	}
	code, out = b.do(t, subjects["owner alice"], "GET", "/api/v1/repositories/web/app/manifests/v1", "", nil)
	var m struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(out, &m); err != nil || m.Digest == "" {
		t.Fatalf("web/app:v1: %d %.200s", code, out)
	}
	return strings.NewReplacer("JOB", job.ID, "DIGEST", m.Digest)
}

// readOnlyAdmin mints a read-only token for the administrator.
func readOnlyAdmin(t *testing.T, b *tableBerth, adm who) who {
	t.Helper()
	code, out := b.do(t, adm, "POST", "/api/v1/tokens", "application/json", strings.NewReader(`{"name":"sweep read-only","readOnly":true}`))
	var tok api.TokenCreated
	if err := json.Unmarshal(out, &tok); err != nil || code != http.StatusCreated || tok.Token == "" {
		t.Fatalf("read-only token: %d %s", code, out)
	}
	ro := adm
	ro.secret = tok.Token
	ro.from = "127.0.0.40"
	return ro
}
