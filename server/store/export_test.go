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
