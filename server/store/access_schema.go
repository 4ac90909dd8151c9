package store

// accessSchema is migration 5 (accounts, teams, namespaces, robots, tokens, signing keys and
// the audit log) in the two dialects; only the audit id and binary column types differ.
func accessSchema(auditID, blob string) string {
	return `CREATE TABLE users (
		name TEXT PRIMARY KEY,
		password_hash TEXT NOT NULL DEFAULT '',
		admin BOOLEAN NOT NULL DEFAULT FALSE,
		disabled BOOLEAN NOT NULL DEFAULT FALSE,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL
	);
	CREATE TABLE teams (
		name TEXT PRIMARY KEY,
		description TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL
	);
	CREATE TABLE team_members (
		team TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
		username TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
		role TEXT NOT NULL,
		PRIMARY KEY (team, username)
	);
	CREATE INDEX team_members_user ON team_members (username);
	CREATE TABLE namespaces (
		name TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		owner TEXT NOT NULL DEFAULT '',
		public BOOLEAN NOT NULL DEFAULT FALSE,
		description TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL
	);
	CREATE TABLE namespace_members (
		namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
		username TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
		role TEXT NOT NULL,
		PRIMARY KEY (namespace, username)
	);
	CREATE TABLE robots (
		name TEXT PRIMARY KEY,
		namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
		role TEXT NOT NULL,
		secret_hash TEXT NOT NULL UNIQUE,
		description TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL DEFAULT 0,
		revoked BIGINT NOT NULL DEFAULT 0,
		last_used BIGINT NOT NULL DEFAULT 0,
		last_addr TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		username TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
		name TEXT NOT NULL DEFAULT '',
		hash TEXT NOT NULL UNIQUE,
		read_only BOOLEAN NOT NULL DEFAULT FALSE,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL DEFAULT 0,
		revoked BIGINT NOT NULL DEFAULT 0,
		last_used BIGINT NOT NULL DEFAULT 0,
		last_addr TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX tokens_user ON tokens (username, kind);
	CREATE TABLE signing_keys (
		id TEXT PRIMARY KEY,
		alg TEXT NOT NULL,
		private_key ` + blob + ` NOT NULL,
		certificate TEXT NOT NULL,
		state TEXT NOT NULL,
		created BIGINT NOT NULL,
		retired BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE audit (
		id ` + auditID + `,
		ts BIGINT NOT NULL,
		actor TEXT NOT NULL DEFAULT '',
		action TEXT NOT NULL,
		target TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		granted TEXT NOT NULL DEFAULT '',
		addr TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT '',
		ok BOOLEAN NOT NULL DEFAULT TRUE
	);
	CREATE INDEX audit_ts ON audit (ts, id);
	CREATE INDEX audit_actor_ts ON audit (actor, ts);
	CREATE INDEX audit_action_ts ON audit (action, ts)`
}
