package store_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestAccountsSQLite runs the accounts contract against SQLite in a temp dir.
func TestAccountsSQLite(t *testing.T) {
	accountsContract(t, func(t *testing.T) string { return filepath.Join(t.TempDir(), "berth.db") })
}

// TestAccountsPostgres runs the same contract against a PostgreSQL server of its own.
func TestAccountsPostgres(t *testing.T) {
	pg := storetest.StartPostgres(t)
	accountsContract(t, func(t *testing.T) string { return pg.NewDatabase(t) })
}

// accountsContract is what every store must do for access control: accounts, teams,
// namespaces with members, robots, tokens, signing keys and the audit log.
func accountsContract(t *testing.T, newDSN func(t *testing.T) string) {
	open := func(t *testing.T) store.Accounts {
		t.Helper()
		s, err := store.Open(t.Context(), newDSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		a, err := store.AccountsOf(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("users", func(t *testing.T) {
		ctx := t.Context()
		a := open(t)
		must(t, a.CreateUser(ctx, store.User{Name: "alice", PasswordHash: "$argon2id$x", Admin: true}))
		if err := a.CreateUser(ctx, store.User{Name: "alice"}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate user: %v, want ErrExists", err)
		}
		must(t, a.CreateUser(ctx, store.User{Name: "bob"}))
		u, ok, err := a.User(ctx, "alice")
		if err != nil || !ok || !u.Admin || u.Disabled || u.PasswordHash != "$argon2id$x" || u.Created.IsZero() {
			t.Fatalf("User(alice) = %+v, %v, %v", u, ok, err)
		}
		if _, ok, err := a.User(ctx, "nobody"); ok || err != nil {
			t.Fatalf("User(nobody) = %v, %v", ok, err)
		}
		u.Disabled, u.Admin = true, false
		must(t, a.UpdateUser(ctx, u))
		if u, _, _ := a.User(ctx, "alice"); !u.Disabled || u.Admin {
			t.Fatalf("after update: %+v", u)
		}
		if err := a.UpdateUser(ctx, store.User{Name: "nobody"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update unknown: %v", err)
		}
		all, err := a.Users(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" {
			t.Fatalf("Users = %+v, %v", all, err)
		}
	})

	t.Run("teams and namespaces", func(t *testing.T) {
		ctx := t.Context()
		a := open(t)
		for _, u := range []string{"ann", "ben"} {
			must(t, a.CreateUser(ctx, store.User{Name: u}))
		}
		must(t, a.CreateTeam(ctx, store.Team{Name: "web", Description: "frontend"}))
		if err := a.CreateTeam(ctx, store.Team{Name: "web"}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate team: %v", err)
		}
		must(t, a.SetTeamMember(ctx, "web", "ann", store.RoleOwner))
		must(t, a.SetTeamMember(ctx, "web", "ben", store.RoleViewer))
		must(t, a.SetTeamMember(ctx, "web", "ben", store.RoleDeveloper)) // a change, not a second row
		if err := a.SetTeamMember(ctx, "web", "ghost", store.RoleViewer); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown member: %v, want ErrNotFound", err)
		}
		ms, err := a.TeamMembers(ctx, "web")
		if err != nil || len(ms) != 2 || ms[1] != (store.Member{Group: "web", User: "ben", Role: store.RoleDeveloper}) {
			t.Fatalf("TeamMembers = %+v, %v", ms, err)
		}
		if ms, _ := a.Memberships(ctx, "ann"); len(ms) != 1 || ms[0].Group != "web" || ms[0].Role != store.RoleOwner {
			t.Fatalf("Memberships(ann) = %+v", ms)
		}
		must(t, a.CreateNamespace(ctx, store.Namespace{Name: "web", Kind: store.NamespaceTeam, Owner: "web"}))
		must(t, a.CreateNamespace(ctx, store.Namespace{Name: "ann", Kind: store.NamespaceUser, Owner: "ann"}))
		if err := a.CreateNamespace(ctx, store.Namespace{Name: "ann", Kind: store.NamespaceUser}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate namespace: %v", err)
		}
		must(t, a.UpdateNamespace(ctx, store.Namespace{Name: "web", Public: true, Description: "public"}))
		n, ok, err := a.Namespace(ctx, "web")
		if err != nil || !ok || !n.Public || n.Kind != store.NamespaceTeam || n.Owner != "web" || n.Description != "public" {
			t.Fatalf("Namespace(web) = %+v, %v, %v", n, ok, err)
		}
		must(t, a.SetNamespaceMember(ctx, "ann", "ben", store.RoleMaintainer))
		if ms, _ := a.NamespaceRoles(ctx, "ben"); len(ms) != 1 || ms[0].Group != "ann" || ms[0].Role != store.RoleMaintainer {
			t.Fatalf("NamespaceRoles(ben) = %+v", ms)
		}
		must(t, a.SetNamespaceMember(ctx, "ann", "ben", ""))
		if ms, _ := a.NamespaceMembers(ctx, "ann"); len(ms) != 0 {
			t.Fatalf("after removal: %+v", ms)
		}
		if err := a.SetNamespaceMember(ctx, "ann", "ben", ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("removing a non-member: %v", err)
		}
		// Deleting the team takes its namespace, and the namespace its robots.
		must(t, a.CreateRobot(ctx, store.Robot{Name: "robot$web+ci", Namespace: "web", Role: store.RoleDeveloper, SecretHash: "h1"}))
		must(t, a.DeleteTeam(ctx, "web"))
		if _, ok, _ := a.Namespace(ctx, "web"); ok {
			t.Fatal("team namespace survived the team")
		}
		if _, ok, _ := a.Robot(ctx, "robot$web+ci"); ok {
			t.Fatal("robot survived its namespace")
		}
		if ns, _ := a.Namespaces(ctx); len(ns) != 1 || ns[0].Name != "ann" {
			t.Fatalf("Namespaces = %+v", ns)
		}
		if err := a.DeleteTeam(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting a deleted team: %v", err)
		}
	})

	t.Run("robots and tokens", func(t *testing.T) {
		ctx := t.Context()
		a := open(t)
		must(t, a.CreateUser(ctx, store.User{Name: "cat"}))
		must(t, a.CreateNamespace(ctx, store.Namespace{Name: "cat", Kind: store.NamespaceUser, Owner: "cat"}))
		exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		must(t, a.CreateRobot(ctx, store.Robot{Name: "robot$cat+ci", Namespace: "cat", Role: store.RoleDeveloper, SecretHash: "sec", Expires: exp, CreatedBy: "cat"}))
		if err := a.CreateRobot(ctx, store.Robot{Name: "robot$none+ci", Namespace: "none", Role: store.RoleViewer, SecretHash: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("robot in unknown namespace: %v", err)
		}
		r, ok, err := a.RobotBySecret(ctx, "sec")
		if err != nil || !ok || r.Name != "robot$cat+ci" || !r.Expires.Equal(exp) || !r.Revoked.IsZero() || !r.LastUsed.IsZero() {
			t.Fatalf("RobotBySecret = %+v, %v, %v", r, ok, err)
		}
		used := exp.Add(-time.Hour)
		must(t, a.TouchRobot(ctx, r.Name, used, "10.0.0.9"))
		must(t, a.RevokeRobot(ctx, r.Name, used))
		if err := a.RevokeRobot(ctx, r.Name, used); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second revoke: %v", err)
		}
		if rs, _ := a.Robots(ctx, "cat"); len(rs) != 1 || !rs[0].LastUsed.Equal(used) || rs[0].LastAddr != "10.0.0.9" || !rs[0].Revoked.Equal(used) {
			t.Fatalf("Robots = %+v", rs)
		}

		must(t, a.CreateToken(ctx, store.Token{ID: "t1", Kind: store.TokenPersonal, User: "cat", Name: "ci", Hash: "h1", ReadOnly: true, Expires: exp}))
		must(t, a.CreateToken(ctx, store.Token{ID: "t2", Kind: store.TokenRefresh, User: "cat", Hash: "h2"}))
		must(t, a.CreateToken(ctx, store.Token{ID: "t3", Kind: store.TokenPersonal, User: "cat", Name: "laptop", Hash: "h3", Created: time.Now().Add(time.Minute)}))
		if err := a.CreateToken(ctx, store.Token{ID: "t4", Kind: store.TokenPersonal, User: "ghost", Hash: "h4"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token of unknown user: %v", err)
		}
		tok, ok, err := a.TokenByHash(ctx, "h1")
		if err != nil || !ok || tok.ID != "t1" || !tok.ReadOnly || !tok.Expires.Equal(exp) || tok.Name != "ci" {
			t.Fatalf("TokenByHash = %+v, %v, %v", tok, ok, err)
		}
		must(t, a.TouchToken(ctx, "t1", used, "10.1.1.1"))
		pats, err := a.Tokens(ctx, "cat", store.TokenPersonal)
		if err != nil || len(pats) != 2 || pats[0].ID != "t3" || pats[1].LastAddr != "10.1.1.1" {
			t.Fatalf("Tokens = %+v, %v", pats, err)
		}
		must(t, a.RevokeToken(ctx, "t3", used))
		n, err := a.RevokeUserTokens(ctx, "cat", used.Add(time.Second))
		if err != nil || n != 2 {
			t.Fatalf("RevokeUserTokens = %d, %v; want the two live ones", n, err)
		}
		if tok, _, _ := a.TokenByHash(ctx, "h3"); !tok.Revoked.Equal(used) {
			t.Fatalf("an earlier revocation was overwritten: %+v", tok)
		}
	})

	t.Run("signing keys", func(t *testing.T) {
		ctx := t.Context()
		a := open(t)
		priv := []byte{0, 1, 2, 255}
		must(t, a.PutSigningKey(ctx, store.SigningKey{ID: "k1", Alg: "ES256", Private: priv, Certificate: "PEM1", State: store.KeyActive, Created: base}))
		must(t, a.PutSigningKey(ctx, store.SigningKey{ID: "k2", Alg: "ES256", Private: priv, Certificate: "PEM2", State: store.KeyNext, Created: base.Add(time.Second)}))
		if err := a.PutSigningKey(ctx, store.SigningKey{ID: "k1", Alg: "ES256", Private: priv, State: store.KeyNext}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate key: %v", err)
		}
		must(t, a.SetKeyState(ctx, "k1", store.KeyRetired, base.Add(time.Hour)))
		must(t, a.SetKeyState(ctx, "k2", store.KeyActive, base.Add(time.Hour)))
		keys, err := a.SigningKeys(ctx)
		if err != nil || len(keys) != 2 || keys[0].ID != "k1" || keys[0].State != store.KeyRetired ||
			!keys[0].Retired.Equal(base.Add(time.Hour)) || string(keys[0].Private) != string(priv) || keys[1].State != store.KeyActive || !keys[1].Retired.IsZero() {
			t.Fatalf("SigningKeys = %+v, %v", keys, err)
		}
		must(t, a.DeleteSigningKey(ctx, "k1"))
		if keys, _ := a.SigningKeys(ctx); len(keys) != 1 {
			t.Fatalf("after delete: %+v", keys)
		}
	})

	t.Run("audit", func(t *testing.T) {
		ctx := t.Context()
		a := open(t)
		for i := range 12 {
			e := store.AuditEntry{Time: base.Add(time.Duration(i) * time.Minute), Actor: []string{"ann", "ben"}[i%2],
				Action: []string{"token", "signin", "user.create"}[i%3], Target: "t" + strconv.Itoa(i), OK: i%4 != 0,
				Scope: "repository:a/b:pull,push", Granted: "repository:a/b:pull", Addr: "127.0.0.1", Detail: "d"}
			must(t, a.AddAudit(ctx, e))
		}
		all, err := a.Audit(ctx, store.AuditFilter{})
		if err != nil || len(all) != 12 || all[0].Target != "t11" || all[11].Target != "t0" {
			t.Fatalf("Audit = %d entries, %v", len(all), err)
		}
		if e := all[11]; e.OK || e.Scope != "repository:a/b:pull,push" || e.Granted != "repository:a/b:pull" || !e.Time.Equal(base) || e.Addr != "127.0.0.1" {
			t.Fatalf("round trip: %+v", e)
		}
		got, _ := a.Audit(ctx, store.AuditFilter{Actor: "ann", Action: "token"})
		if len(got) != 2 || got[0].Target != "t6" || got[1].Target != "t0" {
			t.Fatalf("actor+action filter: %+v", got)
		}
		got, _ = a.Audit(ctx, store.AuditFilter{Since: base.Add(10 * time.Minute)})
		if len(got) != 2 {
			t.Fatalf("since: %+v", got)
		}
		page1, _ := a.Audit(ctx, store.AuditFilter{Limit: 5})
		page2, _ := a.Audit(ctx, store.AuditFilter{Limit: 5, Before: page1[4].ID})
		if len(page1) != 5 || len(page2) != 5 || page2[0].Target != "t6" {
			t.Fatalf("paging: %+v / %+v", page1, page2)
		}
	})
}
