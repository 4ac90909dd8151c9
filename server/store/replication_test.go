package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

func TestReplicationsSQLite(t *testing.T) {
	replicationsContract(t, filepath.Join(t.TempDir(), "berth.db"))
}

func TestReplicationsPostgres(t *testing.T) {
	replicationsContract(t, storetest.StartPostgres(t).NewDatabase(t))
}

// replicationsContract: endpoints are replaced by name, rules by id with unique names, runs
// listed newest first, and a rule's runs go with it.
func replicationsContract(t *testing.T, dsn string) {
	s, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r, err := store.ReplicationsOf(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, e := range []store.RegistryEndpoint{
		{Name: "prod", URL: "https://a.example", Secret: []byte{1, 2, 3}, Catalog: true},
		{Name: "prod", URL: "https://b.example", Username: "robot", Insecure: true, Repositories: []string{"team/a", "b"}},
		{Name: "edge", URL: "http://c.example"},
	} {
		if err := r.PutEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	eps, err := r.Endpoints(ctx)
	if err != nil || len(eps) != 2 || eps[1].Name != "prod" || eps[1].URL != "https://b.example" || !eps[1].Insecure || eps[1].Catalog || len(eps[1].Secret) != 0 ||
		len(eps[1].Repositories) != 2 || eps[1].Repositories[1] != "b" || eps[0].Repositories != nil {
		t.Fatalf("endpoints: %+v %v", eps, err)
	}
	if err := r.DeleteEndpoint(ctx, "edge"); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteEndpoint(ctx, "edge"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if err := r.PutRule(ctx, store.ReplicationRule{ID: "1", Name: "a", Data: []byte(`{"x":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := r.PutRule(ctx, store.ReplicationRule{ID: "2", Name: "a", Data: []byte(`{}`)}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second rule named a: %v", err)
	}
	if err := r.PutRule(ctx, store.ReplicationRule{ID: "1", Name: "b", Data: []byte(`{"x":2}`)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, id := range []string{"r1", "r2"} {
		if err := r.PutRun(ctx, store.ReplicationRun{ID: id, Rule: "1", State: "queued", Started: now.Add(time.Duration(i) * time.Second), Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.PutRun(ctx, store.ReplicationRun{ID: "r1", Rule: "1", State: "succeeded", Started: now, Data: []byte(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
	runs, err := r.Runs(ctx, "1", 10)
	if err != nil || len(runs) != 2 || runs[0].ID != "r2" || runs[1].State != "succeeded" || string(runs[1].Data) != `{"ok":true}` {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	if err := r.DeleteRule(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if runs, _ := r.Runs(ctx, "1", 10); len(runs) != 0 {
		t.Errorf("runs outlived their rule: %v", runs)
	}
	if rules, _ := r.Rules(ctx); len(rules) != 0 {
		t.Errorf("rules: %v", rules)
	}
}
