package store

import "strings"

// Trigram indexes serve substring search by repository name, tag name and label value, which
// otherwise scans every row (p99 279 and 516 ms at 200,000 tags). The trigram index (FTS5
// on SQLite, pg_trgm GIN on PostgreSQL) is asked for a few of the query's trigrams first, and
// a LIKE on the whole query then decides, so both answer exactly what the scan did. A query
// under three characters has no trigram: it scans.
//
// The first migration below indexed every row; a later one (search_terms.go) replaced those
// indexes by ones over the distinct terms. Both stay here as the schema's history.

// sqliteTrigramMigration creates the FTS5 trigram tables over the indexed columns (external
// content: they store only the index, keyed by the base rows' rowids), the triggers that keep
// them in step, and fills them.
const sqliteTrigramMigration = `CREATE VIRTUAL TABLE index_repositories_trgm USING fts5(name, content='index_repositories', tokenize='trigram');
	CREATE TRIGGER index_repositories_trgm_insert AFTER INSERT ON index_repositories BEGIN
		INSERT INTO index_repositories_trgm (rowid, name) VALUES (new.rowid, new.name);
	END;
	CREATE TRIGGER index_repositories_trgm_delete AFTER DELETE ON index_repositories BEGIN
		INSERT INTO index_repositories_trgm (index_repositories_trgm, rowid, name) VALUES ('delete', old.rowid, old.name);
	END;
	CREATE TRIGGER index_repositories_trgm_update AFTER UPDATE OF name ON index_repositories BEGIN
		INSERT INTO index_repositories_trgm (index_repositories_trgm, rowid, name) VALUES ('delete', old.rowid, old.name);
		INSERT INTO index_repositories_trgm (rowid, name) VALUES (new.rowid, new.name);
	END;
	INSERT INTO index_repositories_trgm (index_repositories_trgm) VALUES ('rebuild');

	CREATE VIRTUAL TABLE index_tags_trgm USING fts5(repository, tag, content='index_tags', tokenize='trigram');
	CREATE TRIGGER index_tags_trgm_insert AFTER INSERT ON index_tags BEGIN
		INSERT INTO index_tags_trgm (rowid, repository, tag) VALUES (new.rowid, new.repository, new.tag);
	END;
	CREATE TRIGGER index_tags_trgm_delete AFTER DELETE ON index_tags BEGIN
		INSERT INTO index_tags_trgm (index_tags_trgm, rowid, repository, tag) VALUES ('delete', old.rowid, old.repository, old.tag);
	END;
	CREATE TRIGGER index_tags_trgm_update AFTER UPDATE OF repository, tag ON index_tags BEGIN
		INSERT INTO index_tags_trgm (index_tags_trgm, rowid, repository, tag) VALUES ('delete', old.rowid, old.repository, old.tag);
		INSERT INTO index_tags_trgm (rowid, repository, tag) VALUES (new.rowid, new.repository, new.tag);
	END;
	INSERT INTO index_tags_trgm (index_tags_trgm) VALUES ('rebuild');

	CREATE VIRTUAL TABLE index_labels_trgm USING fts5(value, content='index_labels', tokenize='trigram');
	CREATE TRIGGER index_labels_trgm_insert AFTER INSERT ON index_labels BEGIN
		INSERT INTO index_labels_trgm (rowid, value) VALUES (new.rowid, new.value);
	END;
	CREATE TRIGGER index_labels_trgm_delete AFTER DELETE ON index_labels BEGIN
		INSERT INTO index_labels_trgm (index_labels_trgm, rowid, value) VALUES ('delete', old.rowid, old.value);
	END;
	CREATE TRIGGER index_labels_trgm_update AFTER UPDATE OF value ON index_labels BEGIN
		INSERT INTO index_labels_trgm (index_labels_trgm, rowid, value) VALUES ('delete', old.rowid, old.value);
		INSERT INTO index_labels_trgm (rowid, value) VALUES (new.rowid, new.value);
	END;
	INSERT INTO index_labels_trgm (index_labels_trgm) VALUES ('rebuild')`

// postgresTrigramMigration creates pg_trgm GIN indexes matching the search's LIKE conditions
// (pg_trgm is a trusted extension: the database owner may create it).
const postgresTrigramMigration = `CREATE EXTENSION IF NOT EXISTS pg_trgm;
	CREATE INDEX index_repositories_name_trgm ON index_repositories USING gin (name gin_trgm_ops);
	CREATE INDEX index_tags_repository_trgm ON index_tags USING gin (repository gin_trgm_ops);
	CREATE INDEX index_tags_tag_trgm ON index_tags USING gin (LOWER(tag) gin_trgm_ops);
	CREATE INDEX index_labels_value_trgm ON index_labels USING gin (LOWER(value) gin_trgm_ops)`

// contains is the condition that column (an expression over the row alias) contains the
// lowercase substring sub, with its arguments. A sub of three characters or more is first
// narrowed by a few of its trigrams (trigramStarts), through the trigram index of fts on
// SQLite (an FTS5 table of one column; without fts, the condition alone decides) or the
// pg_trgm index on column on PostgreSQL; the LIKE on the whole sub then decides. On
// PostgreSQL that LIKE goes on the column with an empty string appended, which the index
// does not serve: given the whole pattern, pg_trgm intersected every one of its trigrams (a
// whole repository name: 20 ms at 100,000 names, 14 ms with a few).
func (s *sqlStore) contains(alias, column, fts, sub string) (string, []any) {
	pattern := func(sub string) string { return "%" + likeEscape(sub) + "%" }
	cond, args := column+` LIKE ? ESCAPE '!'`, []any{pattern(sub)}
	if strings.ContainsRune(sub, 0) {
		// No name, tag or stored value holds a NUL (PostgreSQL refuses one in text, FTS5
		// ends its query there).
		return `1 = 0`, nil
	}
	r := []rune(sub)
	if len(r) < 3 || s.d.fts && fts == "" {
		return cond, args
	}
	if s.d.fts {
		return alias + `.rowid IN (SELECT rowid FROM ` + fts + ` WHERE ` + fts + ` MATCH ?) AND ` + cond, append([]any{trigramMatch(sub)}, args...)
	}
	var conds []string
	args = nil
	for _, at := range trigramStarts(r) {
		conds = append(conds, column+` LIKE ? ESCAPE '!'`)
		args = append(args, pattern(string(r[at:at+3])))
	}
	conds = append(conds, `(`+column+` || '') LIKE ? ESCAPE '!'`)
	return strings.Join(conds, ` AND `), append(args, pattern(sub))
}

// maxTrigrams bounds how many of a query's trigrams the trigram indexes are asked for.
const maxTrigrams = 8

// trigramMatch is an FTS5 query for rows holding a few of sub's trigrams: at most
// maxTrigrams that do not overlap, spread from its start to its end. Any row containing sub
// holds them all, and the LIKE beside it decides, so the answer is exact. A phrase of every
// trigram read each one's whole list with positions: a 33-character source URL took 5 ms
// on 100,000 label values, a few spread trigrams 0.5–2 ms.
func trigramMatch(sub string) string {
	r := []rune(sub)
	starts := trigramStarts(r)
	terms := make([]string, len(starts))
	for i, at := range starts {
		terms[i] = `"` + strings.ReplaceAll(string(r[at:at+3]), `"`, `""`) + `"`
	}
	return strings.Join(terms, " AND ")
}

// trigramStarts returns where the trigrams a search asks for start in r (three runes or
// more): at most maxTrigrams that do not overlap, spread from its start to its end.
func trigramStarts(r []rune) []int {
	if len(r) < 3 {
		return nil
	}
	var starts []int
	for i := 0; i+3 <= len(r); i += 3 {
		starts = append(starts, i)
	}
	if last := len(r) - 3; starts[len(starts)-1] != last {
		starts = append(starts, last) // the end, overlapping the one before
	}
	if len(starts) > maxTrigrams {
		picked := make([]int, maxTrigrams)
		for i := range picked {
			picked[i] = starts[i*(len(starts)-1)/(maxTrigrams-1)]
		}
		starts = picked
	}
	return starts
}
