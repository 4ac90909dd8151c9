package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutVulnDB implements Scans.
func (s *sqlStore) PutVulnDB(ctx context.Context, db VulnDB) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM vulndb_archives`); err != nil {
		return s.writeError("clear vulnerability database", err)
	}
	for eco, data := range db.Archives {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO vulndb_archives (ecosystem, records, data) VALUES (?, ?, ?)`),
			eco, db.Counts[eco], data); err != nil {
			return s.writeError("store vulnerability archive "+clip(eco), err)
		}
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO vulndb_state (key, version, source, etag, records, newest, loaded)
		VALUES ('current', ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET version = excluded.version, source = excluded.source, etag = excluded.etag,
		records = excluded.records, newest = excluded.newest, loaded = excluded.loaded`),
		db.Version, db.Source, db.ETag, db.Records, db.Newest.UnixNano(), db.Loaded.UnixNano())
	if err != nil {
		return s.writeError("store vulnerability database state", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit vulnerability database: %w", s.d.name, err)
	}
	return nil
}

// VulnDBState implements Scans.
func (s *sqlStore) VulnDBState(ctx context.Context) (VulnDB, bool, error) {
	var db VulnDB
	var newest, loaded int64
	err := s.db.QueryRowContext(ctx, `SELECT version, source, etag, records, newest, loaded FROM vulndb_state WHERE key = 'current'`).
		Scan(&db.Version, &db.Source, &db.ETag, &db.Records, &newest, &loaded)
	if errors.Is(err, sql.ErrNoRows) {
		return VulnDB{}, false, nil
	}
	if err != nil {
		return VulnDB{}, false, fmt.Errorf("%s: vulnerability database: %w", s.d.name, err)
	}
	db.Newest, db.Loaded = time.Unix(0, newest).UTC(), time.Unix(0, loaded).UTC()
	rows, err := s.db.QueryContext(ctx, `SELECT ecosystem, records FROM vulndb_archives`)
	if err != nil {
		return VulnDB{}, false, fmt.Errorf("%s: vulnerability database: %w", s.d.name, err)
	}
	defer rows.Close()
	db.Counts = map[string]int{}
	for rows.Next() {
		var eco string
		var n int
		if err := rows.Scan(&eco, &n); err != nil {
			return VulnDB{}, false, fmt.Errorf("%s: vulnerability database: %w", s.d.name, err)
		}
		db.Counts[eco] = n
	}
	return db, true, rows.Err()
}

// VulnDBArchives implements Scans.
func (s *sqlStore) VulnDBArchives(ctx context.Context) (VulnDB, bool, error) {
	db, ok, err := s.VulnDBState(ctx)
	if err != nil || !ok {
		return db, ok, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ecosystem, data FROM vulndb_archives`)
	if err != nil {
		return VulnDB{}, false, fmt.Errorf("%s: vulnerability archives: %w", s.d.name, err)
	}
	defer rows.Close()
	db.Archives = map[string][]byte{}
	for rows.Next() {
		var eco string
		var data []byte
		if err := rows.Scan(&eco, &data); err != nil {
			return VulnDB{}, false, fmt.Errorf("%s: vulnerability archives: %w", s.d.name, err)
		}
		db.Archives[eco] = data
	}
	return db, true, rows.Err()
}
