package store_test

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
	"github.com/berth-registry/berth/server/store/storetest"
)

// onBoth runs f against a fresh SQLite and a fresh PostgreSQL store.
func onBoth(t *testing.T, f func(t *testing.T, s store.Store)) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return storetest.SQLite(t) }},
		{"postgres", func(t *testing.T) string { return storetest.StartPostgres(t).NewDatabase(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			s, err := store.Open(t.Context(), db.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			f(t, s)
		})
	}
}

// TestLease: one holder at a time; the holder may renew; an expired or released lease is free.
func TestLease(t *testing.T) {
	onBoth(t, func(t *testing.T, s store.Store) {
		ctx, now := t.Context(), time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		take := func(holder string, at time.Time, want bool) {
			t.Helper()
			got, err := s.TakeLease(ctx, "revalidate/a", holder, at, at.Add(time.Minute))
			if err != nil || got != want {
				t.Fatalf("%s takes the lease at %s: %v, %v; want %v", holder, at.Format(time.TimeOnly), got, err, want)
			}
		}
		take("one", now, true)
		take("two", now.Add(30*time.Second), false)
		take("one", now.Add(30*time.Second), true) // renewal: held until 12:01:30 now
		take("two", now.Add(80*time.Second), false)
		take("two", now.Add(91*time.Second), true) // expired
		if err := s.ReleaseLease(ctx, "revalidate/a", "one"); err != nil {
			t.Fatal(err)
		}
		take("one", now.Add(92*time.Second), false) // another's release does nothing
		if err := s.ReleaseLease(ctx, "revalidate/a", "two"); err != nil {
			t.Fatal(err)
		}
		take("one", now.Add(93*time.Second), true)
	})
}
