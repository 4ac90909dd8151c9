package store_test

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// TestSQLite runs the contract suite against SQLite in a temp dir.
func TestSQLite(t *testing.T) {
	contract(t, func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "berth.db")
	})
}

// TestSQLiteDSN checks the DSN forms Open accepts for SQLite and that data survives reopening.
func TestSQLiteDSN(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "berth.db")
	s, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvents(ctx, []store.Event{ev("a", "push", "r", "t", "sha256:1", base)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, path) // plain path, migrations already applied
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Events(ctx, store.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	for _, bad := range []string{"", "mysql://x", "redis://h"} {
		if _, err := store.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestPostgresRejects checks that what PostgreSQL cannot store — a NUL byte in text, an id
// over the primary key index's row size limit — is reported as ErrRejected, so the webhook
// refuses it instead of asking the registry to retry forever.
func TestPostgresRejects(t *testing.T) {
	pg := storetest.StartPostgres(t)
	s, err := store.Open(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nul := ev("ok", "push", "a", "1", "d", base)
	nul.UserAgent = "docker\x00"
	for name, e := range map[string]store.Event{
		"NUL in id":         ev("a\x00b", "pull", "a", "1", "d", base),
		"NUL in user agent": nul,
		"8 KB id":           ev(noise(8192), "pull", "a", "1", "d", base),
	} {
		if _, err := s.AddEvents(t.Context(), []store.Event{e}); !errors.Is(err, store.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
}

// TestPostgres runs the contract suite against a PostgreSQL server the test starts itself.
func TestPostgres(t *testing.T) {
	pg := storetest.StartPostgres(t)
	contract(t, func(t *testing.T) string { return pg.NewDatabase(t) })
}

var base = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// noise returns n bytes of hex digits that do not compress, as a random id would not:
// PostgreSQL compresses index entries, so a repeated letter fits where these do not.
func noise(n int) string {
	rnd := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n/2)
	for i := range b {
		b[i] = byte(rnd.UintN(256))
	}
	return hex.EncodeToString(b)
}

func ev(id, action, repo, tag, digest string, ts time.Time) store.Event {
	mt := "application/vnd.oci.image.manifest.v1+json"
	return store.Event{
		ID: id, Timestamp: ts, Action: action, Repository: repo, Tag: tag, Digest: digest,
		MediaType: mt, Size: 123, Actor: "alice", RequestMethod: "GET", UserAgent: "test",
		Source: store.SourceWebhook,
	}
}

// contract is the behaviour every Store must have; newDSN returns a fresh, empty database.
func contract(t *testing.T, newDSN func(t *testing.T) string) {
	open := func(t *testing.T) store.Store {
		t.Helper()
		s, err := store.Open(t.Context(), newDSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}

	contractEvents(t, open)
	contractLayers(t, open)
	contractJobs(t, open)
	contractWrites(t, open)
	contractMetadata(t, open)

	t.Run("catalog rows follow every write", func(t *testing.T) { summaryContract(t, newDSN(t)) })
}

// TestSQLiteOddPaths: a data directory whose name has '#', '?' or '%' holds its own database
// (the path goes into a URI, where those would cut or change the file name).
func TestSQLiteOddPaths(t *testing.T) {
	ctx := t.Context()
	for _, dir := range []string{"build#2", "what?", "100%"} {
		path := filepath.Join(t.TempDir(), dir, "berth.db")
		s, err := store.Open(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if _, err := s.AddEvents(ctx, []store.Event{ev("a", "push", "r", "t", "sha256:1", base)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: the database is not where it was asked to be: %v", dir, err)
		}
	}
}
