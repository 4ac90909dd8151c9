package store

import (
	"context"
	"fmt"
	"time"
)

// Leases let one replica at a time do a piece of background work (revalidating a repository's
// tag rows): the others see the row held and skip the work instead of repeating it.

// leaseMigration creates the lease rows: who holds a key, and until when (Unix nanoseconds).
const leaseMigration = `CREATE TABLE index_leases (
		key TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires BIGINT NOT NULL
	)`

// TakeLease implements Index.
func (s *sqlStore) TakeLease(ctx context.Context, key, holder string, now, until time.Time) (bool, error) {
	// One statement, so two replicas racing for a free or expired lease cannot both win.
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO index_leases (key, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE index_leases.expires <= ? OR index_leases.holder = excluded.holder`), key, holder, until.UnixNano(), now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("%s: take lease %s: %w", s.d.name, key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: take lease %s: %w", s.d.name, key, err)
	}
	return n == 1, nil
}

// ReleaseLease implements Index.
func (s *sqlStore) ReleaseLease(ctx context.Context, key, holder string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM index_leases WHERE key = ? AND holder = ?`), key, holder)
	if err != nil {
		return fmt.Errorf("%s: release lease %s: %w", s.d.name, key, err)
	}
	return nil
}
