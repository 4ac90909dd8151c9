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
