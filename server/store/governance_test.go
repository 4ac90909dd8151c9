package store_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

func TestGovernanceSQLite(t *testing.T) {
	governanceContract(t, filepath.Join(t.TempDir(), "berth.db"))
}

func TestGovernancePostgres(t *testing.T) {
	pg := storetest.StartPostgres(t)
	governanceContract(t, pg.NewDatabase(t))
}

// governanceContract: immutable rules and quotas per namespace, gone with the namespace.
func governanceContract(t *testing.T, dsn string) {
	ctx := t.Context()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	a, _ := store.AccountsOf(s)
	g, err := store.GovernanceOf(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CreateNamespace(ctx, store.Namespace{Name: "team", Kind: store.NamespaceTeam, Owner: "t"}); err != nil {
		t.Fatal(err)
	}
	id, err := g.AddImmutableRule(ctx, store.ImmutableRule{Namespace: "team", Patterns: []string{"v*", "!*-rc*"}, CreatedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddImmutableRule(ctx, store.ImmutableRule{Namespace: "gone", Patterns: []string{"x"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rule of a missing namespace: %v, want ErrNotFound", err)
	}
	if err := g.SetRuleLifted(ctx, "team", id, true); err != nil {
		t.Fatal(err)
	}
	if err := g.SetRuleLifted(ctx, "other", id, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lift in another namespace: %v", err)
	}
	rules, err := g.ImmutableRules(ctx, "team")
	if err != nil || len(rules) != 1 || !rules[0].Lifted || !slices.Equal(rules[0].Patterns, []string{"v*", "!*-rc*"}) || rules[0].CreatedBy != "alice" {
		t.Fatalf("rules = %+v, %v", rules, err)
	}
	if err := g.SetQuota(ctx, store.Quota{Namespace: "team", StorageLimit: 100, TagLimit: 3}); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(100, 0)
	if err := g.MarkQuotaWarned(ctx, "team", at); err != nil {
		t.Fatal(err)
	}
	if err := g.SetQuota(ctx, store.Quota{Namespace: "team", StorageLimit: 200, TagLimit: 3}); err != nil {
		t.Fatal(err)
	}
	q, ok, err := g.Quota(ctx, "team")
	if err != nil || !ok || q.StorageLimit != 200 || q.TagLimit != 3 || !q.Warned.Equal(at) {
		t.Fatalf("quota = %+v %v %v", q, ok, err)
	}
	pp, _ := store.PullPoliciesOf(s)
	if err := pp.SetPullPolicy(ctx, store.PullPolicy{Namespace: "team", Severity: "high", Signed: true, Keys: "PEM", UpdatedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	if p, ok, err := pp.PullPolicy(ctx, "team"); err != nil || !ok || p.Severity != "high" || !p.Signed || p.Keys != "PEM" || p.UpdatedBy != "alice" {
		t.Fatalf("pull policy = %+v %v %v", p, ok, err)
	}
	if err := pp.SetPullPolicy(ctx, store.PullPolicy{Namespace: "gone", Signed: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pull policy of a missing namespace: %v, want ErrNotFound", err)
	}
	if err := a.DeleteNamespace(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := pp.PullPolicy(ctx, "team"); ok {
		t.Fatal("pull policy outlives its namespace")
	}
	if rules, _ := g.ImmutableRules(ctx, ""); len(rules) != 0 {
		t.Fatalf("rules outlive their namespace: %+v", rules)
	}
	if _, ok, _ := g.Quota(ctx, "team"); ok {
		t.Fatal("quota outlives its namespace")
	}
}
