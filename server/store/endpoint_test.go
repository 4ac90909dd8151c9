package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestEndpointIndexSQLite: an endpoint's index is a file of its own beside the main database,
// kept across reopening, apart from the main registry's rows, and removed with the endpoint.
func TestEndpointIndexSQLite(t *testing.T) {
	main := filepath.Join(t.TempDir(), "berth.db")
	endpointIndexApart(t, "sqlite:"+main)
	if _, err := os.Stat(filepath.Join(main+".endpoints", "edge.db")); !os.IsNotExist(err) {
		t.Errorf("the removed endpoint's file is still there: %v", err)
	}
}

// TestEndpointIndexPostgres: the same with a schema of its own in the main database.
func TestEndpointIndexPostgres(t *testing.T) {
	pg := storetest.StartPostgres(t)
	endpointIndexApart(t, pg.NewDatabase(t))
}

func endpointIndexApart(t *testing.T, dsn string) {
	ctx := t.Context()
	main, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	if _, err := store.OpenEndpoint(ctx, dsn, "../etc"); err == nil {
		t.Fatal("an endpoint name that is a path was taken")
	}
	put := func(s store.Store, repo string) {
		t.Helper()
		if err := s.PutRepositories(ctx, []string{repo}, base); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: repo, Tag: "v1", Digest: "sha256:" + strings.Repeat("a", 64), Checked: base}}); err != nil {
			t.Fatal(err)
		}
	}
	put(main, "main/app")
	ep, err := store.OpenEndpoint(ctx, dsn, "edge")
	if err != nil {
		t.Fatal(err)
	}
	put(ep, "edge/app")
	names := func(s store.Store) string {
		t.Helper()
		rows, _, err := s.IndexRepositories(ctx, store.RepositoryQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	hits := func(s store.Store, q string) int {
		t.Helper()
		h, err := s.Search(ctx, q, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(h)
	}
	if got := names(main); got != "main/app" {
		t.Errorf("main index lists %q", got)
	}
	if got := names(ep); got != "edge/app" {
		t.Errorf("endpoint index lists %q", got)
	}
	if hits(main, "edge") != 0 || hits(ep, "edge") != 1 || hits(ep, "main") != 0 {
		t.Errorf("searches cross indexes: main→edge %d, edge→edge %d, edge→main %d", hits(main, "edge"), hits(ep, "edge"), hits(ep, "main"))
	}
	_ = ep.Close()
	again, err := store.OpenEndpoint(ctx, dsn, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(again); got != "edge/app" {
		t.Errorf("reopened endpoint index lists %q", got)
	}
	_ = again.Close()
	if err := store.RemoveEndpoint(ctx, dsn, "edge"); err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveEndpoint(context.Background(), dsn, "edge"); err != nil {
		t.Errorf("removing it twice: %v", err)
	}
	fresh, err := store.OpenEndpoint(ctx, dsn, "edge")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := names(fresh); got != "" {
		t.Errorf("after removal the endpoint index lists %q", got)
	}
	if got := names(main); got != "main/app" {
		t.Errorf("after removal the main index lists %q", got)
	}
	if err := store.RemoveEndpoint(ctx, dsn, "edge"); err != nil {
		t.Fatal(err)
	}
}
