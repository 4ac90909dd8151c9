package auth_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/session"
	"github.com/berth-registry/berth/server/site"
	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestAccountAPI runs the account API's table over SQLite and, when its binaries are
// there, PostgreSQL.
func TestAccountAPI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { accountAPI(t, newFixture(t)) })
	t.Run("postgres", func(t *testing.T) {
		pg := storetest.StartPostgres(t)
		accountAPI(t, newFixtureOn(t, pg.NewDatabase(t)))
	})
}

// apiStep is one request of the table: who asks what, what status comes back, and what
// else must hold of the answer.
type apiStep struct {
	name   string
	user   string // "" is anonymous; every cast member's password is pw
	method string
	path   string
	body   any
	want   int
	check  func(t *testing.T, body []byte)
	// audit, if set, is the action of the entry the step must have added (actor user).
	audit string
}

// accountAPI walks users, teams, namespaces with members and roles, robots and personal
// tokens through /api/v1 as the cast of newFixture, in order: create, list, change,
// delete; administrators, owners and everyone else; secrets shown once; audit entries.
func accountAPI(t *testing.T, f *fixture) {
	mux := http.NewServeMux()
	site.API(mux, site.Services{Access: f.c, Authenticator: f.c.Accounts, Sessions: session.New(time.Hour, f.c.Accounts.CheckSignIn, nil, nil)}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var robotSecret, patSecret, patID string
	has := func(parts ...string) func(*testing.T, []byte) {
		return func(t *testing.T, b []byte) {
			t.Helper()
			for _, p := range parts {
				if !bytes.Contains(b, []byte(p)) {
					t.Errorf("answer lacks %s: %s", p, b)
				}
			}
		}
	}
	lacks := func(parts ...func() string) func(*testing.T, []byte) {
		return func(t *testing.T, b []byte) {
			t.Helper()
			for _, p := range parts {
				if s := p(); s == "" || bytes.Contains(b, []byte(s)) {
					t.Errorf("answer shows a secret again (or none was kept): %s", b)
				}
			}
		}
	}
	admin, off, on, public := true, true, false, true
	newPassword := "a brand new password"
	short := "short"
	steps := []apiStep{
		// Users: administrators list, create and change; a user changes only their password.
		{name: "anonymous lists users", method: "GET", path: "/api/v1/users", want: 401},
		{name: "developer lists users", user: "dev", method: "GET", path: "/api/v1/users", want: 403},
		{name: "admin lists users", user: "root", method: "GET", path: "/api/v1/users", want: 200, check: has(`"name":"dev"`, `"name":"root","admin":true`)},
		{name: "developer creates a user", user: "dev", method: "POST", path: "/api/v1/users", body: map[string]any{"name": "zed", "password": pw}, want: 403},
		{name: "admin creates a user without password", user: "root", method: "POST", path: "/api/v1/users", body: map[string]any{"name": "zed"}, want: 400},
		{name: "admin creates a user with a short password", user: "root", method: "POST", path: "/api/v1/users", body: map[string]any{"name": "zed", "password": short}, want: 400},
		{name: "admin creates a user with a bad name", user: "root", method: "POST", path: "/api/v1/users", body: map[string]any{"name": "Zed!", "password": pw}, want: 400},
		{name: "admin creates zed", user: "root", method: "POST", path: "/api/v1/users", body: map[string]any{"name": "zed", "password": pw}, want: 201, check: has(`"name":"zed"`), audit: auth.AuditUserCreate},
		{name: "admin creates zed again", user: "root", method: "POST", path: "/api/v1/users", body: map[string]any{"name": "zed", "password": pw}, want: 409},
		{name: "zed changes own password", user: "zed", method: "PATCH", path: "/api/v1/users/zed", body: map[string]any{"password": newPassword}, want: 200, audit: auth.AuditUserUpdate},
		{name: "zed's old password", user: "zed", method: "GET", path: "/api/v1/tokens", want: 401},
		{name: "eve makes herself admin", user: "eve", method: "PATCH", path: "/api/v1/users/eve", body: map[string]any{"admin": admin}, want: 403},
		{name: "developer changes another's password", user: "dev", method: "PATCH", path: "/api/v1/users/vic", body: map[string]any{"password": newPassword}, want: 403},
		{name: "admin disables itself", user: "root", method: "PATCH", path: "/api/v1/users/root", body: map[string]any{"disabled": off}, want: 409},
		{name: "admin disables zed", user: "root", method: "PATCH", path: "/api/v1/users/zed", body: map[string]any{"disabled": off}, want: 200, check: has(`"disabled":true`), audit: auth.AuditUserDisable},
		{name: "admin enables zed", user: "root", method: "PATCH", path: "/api/v1/users/zed", body: map[string]any{"disabled": on}, want: 200, audit: auth.AuditUserEnable},
		{name: "admin changes a missing user", user: "root", method: "PATCH", path: "/api/v1/users/nobody", body: map[string]any{"disabled": off}, want: 404},

		// Teams: anyone signed in creates one and owns it; owners and administrators manage.
		{name: "anonymous creates a team", method: "POST", path: "/api/v1/teams", body: map[string]any{"name": "data"}, want: 401},
		{name: "eve creates team data", user: "eve", method: "POST", path: "/api/v1/teams", body: map[string]any{"name": "data", "description": "numbers"}, want: 201,
			check: has(`"name":"data"`, `{"user":"eve","role":"owner"}`), audit: auth.AuditTeamCreate},
		{name: "team named like a user", user: "eve", method: "POST", path: "/api/v1/teams", body: map[string]any{"name": "dev"}, want: 409},
		{name: "eve lists her teams", user: "eve", method: "GET", path: "/api/v1/teams", want: 200, check: func(t *testing.T, b []byte) {
			if bytes.Contains(b, []byte(`"web"`)) || !bytes.Contains(b, []byte(`"data"`)) {
				t.Errorf("eve's teams: %s", b)
			}
		}},
		{name: "admin lists all teams", user: "root", method: "GET", path: "/api/v1/teams", want: 200, check: has(`"web"`, `"data"`, `"pub"`)},
		{name: "viewer reads web", user: "vic", method: "GET", path: "/api/v1/teams/web", want: 200, check: has(`{"user":"olga","role":"owner"}`)},
		{name: "outsider reads web", user: "eve", method: "GET", path: "/api/v1/teams/web", want: 404},
		{name: "owner adds zed to web", user: "olga", method: "PUT", path: "/api/v1/teams/web/members/zed", body: map[string]any{"role": "viewer"}, want: 200,
			check: has(`{"user":"zed","role":"viewer"}`), audit: auth.AuditTeamMember},
		{name: "owner gives a bad role", user: "olga", method: "PUT", path: "/api/v1/teams/web/members/zed", body: map[string]any{"role": "king"}, want: 400},
		{name: "maintainer adds a member", user: "max", method: "PUT", path: "/api/v1/teams/web/members/eve", body: map[string]any{"role": "viewer"}, want: 403},
		{name: "owner removes zed", user: "olga", method: "DELETE", path: "/api/v1/teams/web/members/zed", want: 200, audit: auth.AuditTeamMember},
		{name: "developer deletes web", user: "dev", method: "DELETE", path: "/api/v1/teams/web", want: 403},
		{name: "outsider deletes data", user: "dev", method: "DELETE", path: "/api/v1/teams/data", want: 404},
		{name: "eve deletes data", user: "eve", method: "DELETE", path: "/api/v1/teams/data", want: 204, audit: auth.AuditTeamDelete},

		// Namespaces: administrators create and delete; owners change, add members and robots.
		{name: "developer creates a namespace", user: "dev", method: "POST", path: "/api/v1/namespaces", body: map[string]any{"name": "infra", "team": "web"}, want: 403},
		{name: "admin creates infra for web", user: "root", method: "POST", path: "/api/v1/namespaces", body: map[string]any{"name": "infra", "team": "web"}, want: 201,
			check: has(`"name":"infra"`, `"owner":"web"`), audit: auth.AuditNamespaceCreate},
		{name: "viewer lists namespaces", user: "vic", method: "GET", path: "/api/v1/namespaces", want: 200, check: has(`"name":"web"`, `"name":"infra"`, `"name":"pub"`, `"name":"vic"`)},
		{name: "outsider lists namespaces", user: "eve", method: "GET", path: "/api/v1/namespaces", want: 200, check: func(t *testing.T, b []byte) {
			if bytes.Contains(b, []byte(`"name":"infra"`)) || !bytes.Contains(b, []byte(`"name":"eve"`)) {
				t.Errorf("eve's namespaces: %s", b)
			}
		}},
		{name: "outsider reads infra", user: "eve", method: "GET", path: "/api/v1/namespaces/infra", want: 404},
		{name: "owner makes infra public", user: "olga", method: "PATCH", path: "/api/v1/namespaces/infra", body: map[string]any{"public": public}, want: 200,
			check: has(`"public":true`), audit: auth.AuditNamespaceUpdate},
		{name: "developer changes infra", user: "dev", method: "PATCH", path: "/api/v1/namespaces/infra", body: map[string]any{"public": on}, want: 403},
		{name: "owner adds eve to infra", user: "olga", method: "PUT", path: "/api/v1/namespaces/infra/members/eve", body: map[string]any{"role": "maintainer"}, want: 200,
			check: has(`{"user":"eve","role":"maintainer"}`), audit: auth.AuditNamespaceMember},
		{name: "maintainer adds a member", user: "eve", method: "PUT", path: "/api/v1/namespaces/infra/members/zed", body: map[string]any{"role": "viewer"}, want: 403},

		// Robots: namespace owners and administrators; the secret is shown once.
		{name: "developer makes a robot", user: "dev", method: "POST", path: "/api/v1/namespaces/infra/robots", body: map[string]any{"name": "deploy", "role": "viewer"}, want: 403},
		{name: "owner makes a robot", user: "olga", method: "POST", path: "/api/v1/namespaces/infra/robots", body: map[string]any{"name": "deploy", "role": "viewer", "expiresIn": "30d"}, want: 201,
			audit: auth.AuditRobotCreate, check: func(t *testing.T, b []byte) {
				var r struct {
					Account, Secret string
					Expires         *time.Time
				}
				if json.Unmarshal(b, &r) != nil || r.Account != "robot$infra+deploy" || !strings.HasPrefix(r.Secret, auth.RobotPrefix) || r.Expires == nil {
					t.Errorf("robot: %s", b)
				}
				robotSecret = r.Secret
			}},
		{name: "owner lists robots", user: "olga", method: "GET", path: "/api/v1/namespaces/infra/robots", want: 200,
			check: func(t *testing.T, b []byte) {
				has(`"account":"robot$infra+deploy"`)(t, b)
				lacks(func() string { return robotSecret })(t, b)
			}},
		{name: "the robot signs in to the API", user: "robot$infra+deploy", method: "GET", path: "/api/v1/tokens", want: 401},
		{name: "maintainer revokes the robot", user: "eve", method: "DELETE", path: "/api/v1/namespaces/infra/robots/deploy", want: 403},
		{name: "owner revokes the robot", user: "olga", method: "DELETE", path: "/api/v1/namespaces/infra/robots/deploy", want: 204, audit: auth.AuditRobotRevoke},
		{name: "owner revokes a missing robot", user: "olga", method: "DELETE", path: "/api/v1/namespaces/infra/robots/none", want: 404},

		// Personal access tokens: each user their own; shown once.
		{name: "anonymous makes a token", method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": "ci"}, want: 401},
		{name: "dev makes a token", user: "dev", method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": "ci", "readOnly": true, "expiresIn": "90d"}, want: 201,
			audit: auth.AuditPATCreate, check: func(t *testing.T, b []byte) {
				var tok struct {
					ID, Token string
					ReadOnly  bool
				}
				if json.Unmarshal(b, &tok) != nil || !strings.HasPrefix(tok.Token, auth.PATPrefix) || !tok.ReadOnly || tok.ID == "" {
					t.Errorf("token: %s", b)
				}
				patSecret, patID = tok.Token, tok.ID
			}},
		{name: "dev makes a token with a bad lifetime", user: "dev", method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": "x", "expiresIn": "-1d"}, want: 400},
		{name: "dev lists tokens", user: "dev", method: "GET", path: "/api/v1/tokens", want: 200,
			check: func(t *testing.T, b []byte) {
				has(`"name":"ci"`)(t, b)
				lacks(func() string { return patSecret })(t, b)
			}},
		{name: "eve lists tokens", user: "eve", method: "GET", path: "/api/v1/tokens", want: 200, check: func(t *testing.T, b []byte) {
			if bytes.Contains(b, []byte(`"ci"`)) {
				t.Errorf("eve sees dev's token: %s", b)
			}
		}},

		// Namespace deletion last: administrators only.
		{name: "owner deletes infra", user: "olga", method: "DELETE", path: "/api/v1/namespaces/infra", want: 403},
		{name: "admin deletes infra", user: "root", method: "DELETE", path: "/api/v1/namespaces/infra", want: 204, audit: auth.AuditNamespaceDelete},
	}
	passwords := map[string]string{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var body io.Reader = http.NoBody
			if st.body != nil {
				b, _ := json.Marshal(st.body)
				body = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(st.method, srv.URL+st.path, body)
			if st.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if st.user != "" {
				secret := pw
				if p, ok := passwords[st.user]; ok {
					secret = p
				}
				req.SetBasicAuth(st.user, secret)
			}
			before, _ := f.st.Audit(t.Context(), store.AuditFilter{Limit: 1})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != st.want {
				t.Fatalf("%s %s as %q: %d %s, want %d", st.method, st.path, st.user, resp.StatusCode, b, st.want)
			}
			if st.check != nil {
				st.check(t, b)
			}
			if st.audit != "" {
				after, _ := f.st.Audit(t.Context(), store.AuditFilter{Action: st.audit, Limit: 1})
				if len(after) == 0 || (len(before) > 0 && after[0].ID <= before[0].ID) || after[0].Actor != st.user || !after[0].OK {
					t.Fatalf("no new %s audit entry by %s: %+v", st.audit, st.user, after)
				}
			}
		})
		if st.name == "zed's old password" {
			passwords["zed"] = newPassword // from here on zed signs in with the new one
		}
	}

	// The token dev made works as a read-only password, and revoking it ends it.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/tokens", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("dev", patSecret)
	if s, _, _ := do(t, req); s != http.StatusForbidden {
		t.Fatalf("a read-only token writes: %d", s)
	}
	for _, c := range []struct {
		user string
		want int
	}{{"eve", 404}, {"dev", 204}, {"dev", 404}} {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/tokens/"+patID, nil)
		req.SetBasicAuth(c.user, pw)
		if s, _, _ := do(t, req); s != c.want {
			t.Fatalf("%s revokes dev's token: %d, want %d", c.user, s, c.want)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/v1/tokens", nil)
	req.SetBasicAuth("dev", patSecret)
	if s, _, _ := do(t, req); s != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d", s)
	}
	// The robot's secret stopped with its revocation.
	if _, err := f.c.Accounts.Authenticate(t.Context(), "robot$infra+deploy", robotSecret); err == nil {
		t.Fatal("the revoked robot still signs in")
	}
}
