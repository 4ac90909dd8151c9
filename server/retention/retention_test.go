package retention_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/retention"
	"github.com/berth-registry/berth/server/store"
)

// TestScheduledRetention: three replicas (three River clients on one database) run the
// retention task; the policy's due run happens once and deletes exactly its preview's tags.
func TestScheduledRetention(t *testing.T) {
	ctx := t.Context()
	url := registrytest.Open(t)
	reg, err := registry.New(registry.Options{URL: url, ServiceWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"team/app:old-1", "team/app:old-2", "team/app:keep", "team/lib:old-3", "team/lib:v1", "other/app:old-4"} {
		img, _ := random.Image(256, 1)
		r, _ := name.ParseReference(registry.Address(reg.Address()).Host+"/"+ref, name.Insecure)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	dsn := filepath.Join(t.TempDir(), "berth.db")
	open := func() store.Store {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	first := open()
	accounts, _ := store.AccountsOf(first)
	if err := accounts.CreateNamespace(ctx, store.Namespace{Name: "team", Kind: store.NamespaceTeam, Owner: "team"}); err != nil {
		t.Fatal(err)
	}
	rs, _ := store.RetentionOf(first)
	svc := retention.New(retention.Options{Store: rs, Registry: reg})
	p, err := svc.Create(ctx, "admin", "team", api.RetentionPolicy{Repositories: "team/*", Rule: api.CleanupRule{Include: "^old-"}, Every: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	policies, _ := rs.RetentionPolicies(ctx, "team")
	plans, err := svc.Preview(ctx, policies[0])
	if err != nil {
		t.Fatal(err)
	}
	var preview []string
	for _, plan := range plans {
		for _, it := range plan.Delete {
			preview = append(preview, plan.Repository+":"+it.Tag)
		}
	}
	slices.Sort(preview)
	if want := []string{"team/app:old-1", "team/app:old-2", "team/lib:old-3"}; !slices.Equal(preview, want) {
		t.Fatalf("preview = %v, want %v", preview, want)
	}

	var checks atomic.Int32
	for _, st := range []store.Store{first, open(), open()} {
		r, _ := store.RetentionOf(st)
		replica := retention.New(retention.Options{Store: r, Registry: reg})
		m, err := ops.NewManager(ctx, ops.Options{Registry: reg, Authorizer: registry.NewAuthorizer(reg, 0), Store: st, Secret: []byte("a cluster secret for the tests"),
			Periodic: []ops.Periodic{{Name: "retention", Interval: time.Second, RunOnStart: true, Run: func(ctx context.Context) error {
				checks.Add(1)
				return replica.RunDue(ctx)
			}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = m.Shutdown(ctx)
		})
	}
	// Every replica has looked at least twice, and the one that claimed the run has recorded
	// it (a run is recorded when it ends, which may come after the others' checks).
	recorded := func() bool {
		runs, err := rs.RetentionRuns(ctx, p.ID, 0)
		return err == nil && len(runs) > 0
	}
	deadline := time.Now().Add(time.Minute)
	for checks.Load() < 6 || !recorded() {
		if time.Now().After(deadline) {
			t.Fatalf("the retention task ran %d times, recorded %v", checks.Load(), recorded())
		}
		time.Sleep(20 * time.Millisecond) // polling the counter
	}
	runs, err := rs.RetentionRuns(ctx, p.ID, 0)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %+v, %v; want exactly one", runs, err)
	}
	if !slices.Equal(runs[0].Deleted, preview) || runs[0].Error != "" {
		t.Fatalf("the run deleted %v (%q), the preview said %v", runs[0].Deleted, runs[0].Error, preview)
	}
	for repo, want := range map[string][]string{"team/app": {"keep"}, "team/lib": {"v1"}, "other/app": {"old-4"}} {
		if tags, _ := reg.Tags(ctx, repo); !slices.Equal(tags, want) {
			t.Errorf("%s keeps %v, want %v", repo, tags, want)
		}
	}
}
