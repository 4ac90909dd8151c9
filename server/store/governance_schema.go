package store

// governanceSchema is the migration of per-namespace governance (immutable tag rules and
// quotas) in the two dialects; only the id column type differs.
func governanceSchema(id string) string {
	return `CREATE TABLE immutable_rules (
		id ` + id + `,
		namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
		patterns TEXT NOT NULL,
		lifted BOOLEAN NOT NULL DEFAULT FALSE,
		created_by TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL
	);
	CREATE INDEX immutable_rules_namespace ON immutable_rules (namespace);
	CREATE TABLE namespace_quotas (
		namespace TEXT PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
		storage_limit BIGINT NOT NULL DEFAULT 0,
		tag_limit BIGINT NOT NULL DEFAULT 0,
		warned BIGINT NOT NULL DEFAULT 0,
		updated BIGINT NOT NULL
	)`
}
