package store

import "slices"

// SummaryMigrationVersion is the schema version that creates index_repository_summary, for
// the test that reruns its backfill.
func SummaryMigrationVersion(postgres bool) int {
	if postgres {
		return slices.Index(postgresMigrations, repositorySummaryMigration) + 1
	}
	return slices.Index(sqliteMigrations, repositorySummaryMigration) + 1
}

// ImageCountMigrationVersion is the schema version that recounts the summaries' tags without
// referrer tags; the backfill test reruns it after the summary's.
func ImageCountMigrationVersion(postgres bool) int {
	if postgres {
		return slices.Index(postgresMigrations, summaryImageCountMigration) + 1
	}
	return slices.Index(sqliteMigrations, summaryImageCountMigration) + 1
}

// ForBulkFill makes a SQLite store write as a one-off bulk load does, for benchmarks that
// fill millions of rows: one connection with no sync on commit and a 1 GiB page cache.
// A crash during the fill loses it; the benchmark then fills again. Other stores are left
// as they are.
func ForBulkFill(st Store) error {
	s, ok := st.(*liteStore)
	if !ok {
		return nil
	}
	s.db.SetMaxOpenConns(1)
	_, err := s.db.Exec(`PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576`)
	return err
}

// SetDenseTagRows sets where tag hits count as dense (see denseTags) until the test ends.
func SetDenseTagRows(t interface{ Cleanup(func()) }, n int) {
	old := denseTagRows
	denseTagRows = n
	t.Cleanup(func() { denseTagRows = old })
}

// SetMaxTerms sets how many matching terms a search names one by one (see terms) until the
// test ends.
func SetMaxTerms(t interface{ Cleanup(func()) }, n int) {
	old := maxTerms
	maxTerms = n
	t.Cleanup(func() { maxTerms = old })
}
