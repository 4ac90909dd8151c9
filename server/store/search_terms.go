package store

// Search terms: the distinct strings that search looks through, each once. The first trigram
// indexes (trigram.go) covered every row: a repository name once per tag, a label value once
// per manifest. At a million tags a common name's trigrams then listed hundreds of thousands
// of rows, and a whole-name search read them all. A registry holds far fewer distinct names,
// tags and label values than rows (10 tags a repository, 9 manifests sharing a source label),
// so search now finds the matching terms first, through trigram indexes on the terms alone,
// and then the rows holding them through ordinary btree indexes.
//
// Triggers keep the terms exact: a term is added with its first row and removed with its
// last (index writes run one at a time, see indexTx, so two writers cannot race on a term).

// searchTermsTables creates the term tables, the tag name index the tag hits are read through,
// and fills the terms from the rows.
const searchTermsTables = `CREATE TABLE index_search_names (name TEXT PRIMARY KEY);
	CREATE TABLE index_search_tags (tag TEXT PRIMARY KEY);
	CREATE TABLE index_search_values (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
	CREATE INDEX index_tags_tag ON index_tags (tag);
	INSERT INTO index_search_names (name) SELECT name FROM index_repositories UNION SELECT DISTINCT repository FROM index_tags;
	INSERT INTO index_search_tags (tag) SELECT DISTINCT tag FROM index_tags;
	INSERT INTO index_search_values (name, value) SELECT DISTINCT name, value FROM index_labels`

// sqliteSearchTermsMigration replaces the per-row FTS5 tables by ones over the terms.
const sqliteSearchTermsMigration = `DROP TRIGGER index_repositories_trgm_insert;
	DROP TRIGGER index_repositories_trgm_delete;
	DROP TRIGGER index_repositories_trgm_update;
	DROP TRIGGER index_tags_trgm_insert;
	DROP TRIGGER index_tags_trgm_delete;
	DROP TRIGGER index_tags_trgm_update;
	DROP TRIGGER index_labels_trgm_insert;
	DROP TRIGGER index_labels_trgm_delete;
	DROP TRIGGER index_labels_trgm_update;
	DROP TABLE index_repositories_trgm;
	DROP TABLE index_tags_trgm;
	DROP TABLE index_labels_trgm;
	` + searchTermsTables + `;

	CREATE VIRTUAL TABLE index_search_names_trgm USING fts5(name, content='index_search_names', tokenize='trigram');
	CREATE VIRTUAL TABLE index_search_tags_trgm USING fts5(tag, content='index_search_tags', tokenize='trigram');
	CREATE VIRTUAL TABLE index_search_values_trgm USING fts5(value, content='index_search_values', tokenize='trigram');
	INSERT INTO index_search_names_trgm (index_search_names_trgm) VALUES ('rebuild');
	INSERT INTO index_search_tags_trgm (index_search_tags_trgm) VALUES ('rebuild');
	INSERT INTO index_search_values_trgm (index_search_values_trgm) VALUES ('rebuild');
	CREATE TRIGGER index_search_names_added AFTER INSERT ON index_search_names BEGIN
		INSERT INTO index_search_names_trgm (rowid, name) VALUES (new.rowid, new.name);
	END;
	CREATE TRIGGER index_search_names_gone AFTER DELETE ON index_search_names BEGIN
		INSERT INTO index_search_names_trgm (index_search_names_trgm, rowid, name) VALUES ('delete', old.rowid, old.name);
	END;
	CREATE TRIGGER index_search_tags_added AFTER INSERT ON index_search_tags BEGIN
		INSERT INTO index_search_tags_trgm (rowid, tag) VALUES (new.rowid, new.tag);
	END;
	CREATE TRIGGER index_search_tags_gone AFTER DELETE ON index_search_tags BEGIN
		INSERT INTO index_search_tags_trgm (index_search_tags_trgm, rowid, tag) VALUES ('delete', old.rowid, old.tag);
	END;
	CREATE TRIGGER index_search_values_added AFTER INSERT ON index_search_values BEGIN
		INSERT INTO index_search_values_trgm (rowid, value) VALUES (new.rowid, new.value);
	END;
	CREATE TRIGGER index_search_values_gone AFTER DELETE ON index_search_values BEGIN
		INSERT INTO index_search_values_trgm (index_search_values_trgm, rowid, value) VALUES ('delete', old.rowid, old.value);
	END;

	CREATE TRIGGER index_repositories_terms_added AFTER INSERT ON index_repositories BEGIN
		INSERT OR IGNORE INTO index_search_names (name) VALUES (new.name);
	END;
	CREATE TRIGGER index_repositories_terms_gone AFTER DELETE ON index_repositories BEGIN
		DELETE FROM index_search_names WHERE name = old.name AND NOT EXISTS (SELECT 1 FROM index_tags WHERE repository = old.name);
	END;
	CREATE TRIGGER index_tags_terms_added AFTER INSERT ON index_tags BEGIN
		INSERT OR IGNORE INTO index_search_names (name) VALUES (new.repository);
		INSERT OR IGNORE INTO index_search_tags (tag) VALUES (new.tag);
	END;
	CREATE TRIGGER index_tags_terms_gone AFTER DELETE ON index_tags BEGIN
		DELETE FROM index_search_names WHERE name = old.repository
			AND NOT EXISTS (SELECT 1 FROM index_tags WHERE repository = old.repository)
			AND NOT EXISTS (SELECT 1 FROM index_repositories WHERE name = old.repository);
		DELETE FROM index_search_tags WHERE tag = old.tag AND NOT EXISTS (SELECT 1 FROM index_tags WHERE tag = old.tag);
	END;
	CREATE TRIGGER index_labels_terms_added AFTER INSERT ON index_labels BEGIN
		INSERT OR IGNORE INTO index_search_values (name, value) VALUES (new.name, new.value);
	END;
	CREATE TRIGGER index_labels_terms_gone AFTER DELETE ON index_labels BEGIN
		DELETE FROM index_search_values WHERE name = old.name AND value = old.value
			AND NOT EXISTS (SELECT 1 FROM index_labels WHERE name = old.name AND value = old.value);
	END`

// postgresSearchTermsMigration replaces the per-row pg_trgm indexes by ones over the terms.
// Its triggers run once per statement over the statement's rows (transition tables), so a
// write of 500 tags adds their terms in two statements. The rows are locked against writes
// (not reads) first, so none is written between the fill and the triggers by a replica still
// running the previous version; the old indexes go last, so searches on such a replica keep
// them until the new ones are there.
const postgresSearchTermsMigration = `LOCK TABLE index_repositories, index_tags, index_labels IN SHARE ROW EXCLUSIVE MODE;
	` + searchTermsTables + `;
	CREATE INDEX index_search_names_trgm ON index_search_names USING gin (name gin_trgm_ops);
	CREATE INDEX index_search_tags_trgm ON index_search_tags USING gin (LOWER(tag) gin_trgm_ops);
	CREATE INDEX index_search_values_trgm ON index_search_values USING gin (LOWER(value) gin_trgm_ops);

	CREATE FUNCTION index_repositories_terms_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		INSERT INTO index_search_names (name) SELECT name FROM added ON CONFLICT DO NOTHING;
		RETURN NULL;
	END $$;
	CREATE FUNCTION index_repositories_terms_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		DELETE FROM index_search_names n WHERE n.name IN (SELECT name FROM gone)
			AND NOT EXISTS (SELECT 1 FROM index_tags t WHERE t.repository = n.name);
		RETURN NULL;
	END $$;
	CREATE FUNCTION index_tags_terms_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		INSERT INTO index_search_names (name) SELECT DISTINCT repository FROM added ON CONFLICT DO NOTHING;
		INSERT INTO index_search_tags (tag) SELECT DISTINCT tag FROM added ON CONFLICT DO NOTHING;
		RETURN NULL;
	END $$;
	CREATE FUNCTION index_tags_terms_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		DELETE FROM index_search_names n WHERE n.name IN (SELECT repository FROM gone)
			AND NOT EXISTS (SELECT 1 FROM index_tags t WHERE t.repository = n.name)
			AND NOT EXISTS (SELECT 1 FROM index_repositories r WHERE r.name = n.name);
		DELETE FROM index_search_tags s WHERE s.tag IN (SELECT tag FROM gone)
			AND NOT EXISTS (SELECT 1 FROM index_tags t WHERE t.tag = s.tag);
		RETURN NULL;
	END $$;
	CREATE FUNCTION index_labels_terms_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		INSERT INTO index_search_values (name, value) SELECT DISTINCT name, value FROM added ON CONFLICT DO NOTHING;
		RETURN NULL;
	END $$;
	CREATE FUNCTION index_labels_terms_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		DELETE FROM index_search_values v WHERE (v.name, v.value) IN (SELECT name, value FROM gone)
			AND NOT EXISTS (SELECT 1 FROM index_labels l WHERE l.name = v.name AND l.value = v.value);
		RETURN NULL;
	END $$;
	CREATE TRIGGER index_repositories_terms_added AFTER INSERT ON index_repositories REFERENCING NEW TABLE AS added
		FOR EACH STATEMENT EXECUTE FUNCTION index_repositories_terms_added();
	CREATE TRIGGER index_repositories_terms_gone AFTER DELETE ON index_repositories REFERENCING OLD TABLE AS gone
		FOR EACH STATEMENT EXECUTE FUNCTION index_repositories_terms_gone();
	CREATE TRIGGER index_tags_terms_added AFTER INSERT ON index_tags REFERENCING NEW TABLE AS added
		FOR EACH STATEMENT EXECUTE FUNCTION index_tags_terms_added();
	CREATE TRIGGER index_tags_terms_gone AFTER DELETE ON index_tags REFERENCING OLD TABLE AS gone
		FOR EACH STATEMENT EXECUTE FUNCTION index_tags_terms_gone();
	CREATE TRIGGER index_labels_terms_added AFTER INSERT ON index_labels REFERENCING NEW TABLE AS added
		FOR EACH STATEMENT EXECUTE FUNCTION index_labels_terms_added();
	CREATE TRIGGER index_labels_terms_gone AFTER DELETE ON index_labels REFERENCING OLD TABLE AS gone
		FOR EACH STATEMENT EXECUTE FUNCTION index_labels_terms_gone();
	DROP INDEX index_repositories_name_trgm;
	DROP INDEX index_tags_repository_trgm;
	DROP INDEX index_tags_tag_trgm;
	DROP INDEX index_labels_value_trgm`

// searchCoveringMigration widens the indexes search reads its hits through so they hold the
// whole hit: a label's digest with its name and value, a tag's repository and name with its
// digest. Each hit then costs one index entry instead of an index entry and a table row, and
// a cold label search at a million tags reads ≈400 pages instead of ≈1,000. The wider
// indexes serve every query the narrower ones did (their columns lead).
const searchCoveringMigration = `CREATE INDEX index_labels_name_digest ON index_labels (name, value, digest);
	DROP INDEX index_labels_name;
	CREATE INDEX index_tags_digest_tag ON index_tags (digest, repository, tag);
	DROP INDEX index_tags_digest`

// catalogNewestMigration adds the orders catalog pages are asked for most (newest and largest
// first, ties by name ascending) as indexes of their own. The ascending ones cannot serve
// them: SQLite then sorted every repository (11 ms a page at 100,000 repositories).
const catalogNewestMigration = `CREATE INDEX index_repository_summary_newest ON index_repository_summary (last_push DESC, name);
	CREATE INDEX index_repository_summary_largest ON index_repository_summary (size DESC, name);
	CREATE INDEX index_repository_summary_kind_newest ON index_repository_summary (kind, last_push DESC, name);
	CREATE INDEX index_repository_summary_kind_largest ON index_repository_summary (kind, size DESC, name)`
