package ops

import (
	"context"
	"errors"
	"github.com/berth-registry/berth/server/access"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// River's tables join an existing Berth database without touching its data, and replicas
// starting at the same moment migrate once between them.
func TestQueueMigratesExistingStore(t *testing.T) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "berth.db")}
	if storetest.Available() {
		pg := storetest.StartPostgres(t)
		dsns["postgres"] = pg.NewDatabase(t)
	} else {
		dsns["postgres"] = ""
	}
	for kind, dsn := range dsns {
		t.Run(kind, func(t *testing.T) {
			if dsn == "" {
				storetest.StartPostgres(t) // skips, or fails under BERTH_E2E=1, with the reason
			}
			ctx := t.Context()
			// An existing database: Berth's own tables with data, no River yet.
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Now().UTC().Truncate(time.Second)
			if _, err := st.AddEvents(ctx, []store.Event{{ID: "e1", Timestamp: at, Action: store.ActionPush, Repository: "team/app", Tag: "v1", Digest: "sha256:" + strings.Repeat("a", 64), Source: store.SourceWebhook}}); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			// Three replicas open it at once.
			var wg sync.WaitGroup
			errs := make([]error, 3)
			stores := make([]store.Store, 3)
			for i := range 3 {
				wg.Go(func() {
					s, err := store.Open(ctx, dsn)
					if err != nil {
						errs[i] = err
						return
					}
					stores[i] = s
					_, errs[i] = NewManager(ctx, Options{Store: s, Secret: []byte("migration test secret"), Authorizer: noAccess{}})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
			}
			for _, s := range stores {
				defer s.Close()
			}
			got, err := stores[0].Events(ctx, store.Filter{})
			if err != nil || len(got) != 1 || got[0].ID != "e1" || got[0].Tag != "v1" {
				t.Fatalf("events after migrating: %+v, %v", got, err)
			}
			tags, err := stores[1].Tags(ctx)
			if err != nil || len(tags) != 1 {
				t.Fatalf("tag state after migrating: %+v, %v", tags, err)
			}
			if kind == "postgres" {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				var versions, distinct int
				if err := conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM river_migration`).Scan(&versions, &distinct); err != nil {
					t.Fatal(err)
				}
				if versions == 0 || versions != distinct {
					t.Fatalf("river_migration has %d rows for %d versions", versions, distinct)
				}
			}
		})
	}
}

// noAccess refuses everything: the migration test starts no job.
type noAccess struct{}

func (noAccess) Authorize(context.Context, string, access.Actions) error {
	return errors.New("refused")
}
func (noAccess) Repositories(context.Context) ([]string, error) { return nil, nil }
func (noAccess) Everything(context.Context) (bool, error)       { return false, nil }
