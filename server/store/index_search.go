package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Global search over the metadata index: by name, digest and label.

// searchPart is one query of a search and what its hits matched.
type searchPart struct {
	match, sql string
	args       []any
}

// The columns and tables of a tag hit (alias t, its manifest m).
const (
	tagCols = `t.repository, t.tag, t.digest, COALESCE(m.kind, '')`
	tagFrom = ` FROM index_tags t LEFT JOIN index_manifests m ON m.digest = t.digest`
)

// Search implements Index.
func (s *sqlStore) Search(ctx context.Context, query string, limit int) ([]SearchHit, error) {
	query = strings.TrimSpace(query)
	if query == "" || strings.ContainsRune(query, 0) {
		// A NUL is in no name or stored value (PostgreSQL refuses one in text).
		return []SearchHit{}, nil
	}
	if limit <= 0 || limit > MaxSearch {
		limit = MaxSearch
	}
	lim := ` LIMIT ` + strconv.Itoa(limit)
	lower := strings.ToLower(query)
	var parts []searchPart
	var err error
	sorted := false // the hits are sorted by repository and tag here, not by the database
	switch {
	case strings.HasPrefix(lower, "sha256:"):
		// A digest prefix: a btree range, so both databases use the digest indexes.
		lo, hi := lower, lower+"~"
		parts = []searchPart{
			{"digest", `SELECT ` + tagCols + `, ''` + tagFrom + ` WHERE t.digest >= ? AND t.digest < ? ORDER BY t.repository, t.tag` + lim, []any{lo, hi}},
			{"digest", `SELECT ` + tagCols + `, ''` + tagFrom + ` JOIN index_children c ON c.digest = t.digest
				WHERE c.child >= ? AND c.child < ? ORDER BY t.repository, t.tag` + lim, []any{lo, hi}},
		}
	case strings.HasPrefix(lower, "label:") || strings.Contains(query, "="):
		parts, err = s.labelParts(ctx, query, lim)
		sorted = true
	default:
		parts, err = s.nameParts(ctx, lower, lim)
	}
	if err != nil {
		return nil, err
	}
	out, err := s.searchHits(ctx, parts, limit)
	if err != nil {
		return nil, err
	}
	if sorted {
		slices.SortStableFunc(out, func(a, b SearchHit) int {
			return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(a.Tag, b.Tag))
		})
	}
	return out, nil
}

// searchHits runs the parts in order and keeps the first limit distinct hits.
func (s *sqlStore) searchHits(ctx context.Context, parts []searchPart, limit int) ([]SearchHit, error) {
	out := []SearchHit{}
	seen := map[[3]string]bool{}
	for _, p := range parts {
		rows, err := s.db.QueryContext(ctx, s.q(p.sql), p.args...)
		if err != nil {
			return nil, fmt.Errorf("%s: search: %w", s.d.name, err)
		}
		for rows.Next() {
			h := SearchHit{Match: p.match}
			if err := rows.Scan(&h.Repository, &h.Tag, &h.Digest, &h.Kind, &h.Label); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: read search hit: %w", s.d.name, err)
			}
			k := [3]string{h.Repository, h.Tag, h.Label}
			if !seen[k] && len(out) < limit {
				seen[k] = true
				out = append(out, h)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: search: %w", s.d.name, err)
		}
		if len(out) >= limit {
			break // the later parts' hits would be left out anyway
		}
	}
	return out, nil
}

// labelParts searches by label: name=value (the value as a substring) or label:name. The
// matching values come first (search_terms.go), then the manifests holding them (directly or
// as a platform of an index) and their tags. No ORDER BY: the databases then stop at the
// limit, where an order by tag walks every tag looking for a rare label (seconds on 200,000
// tags); Search sorts the hits, and past the limit which ones come is the index's.
func (s *sqlStore) labelParts(ctx context.Context, query, lim string) ([]searchPart, error) {
	name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(query, "label:"), "Label:"), "=")
	cond, args := `v.name = ?`, []any{name}
	if hasValue && value != "" {
		fts, err := s.valuesIndexed(ctx, name)
		if err != nil {
			return nil, err
		}
		c, a := s.contains("v", "LOWER(v.value)", fts, strings.ToLower(value))
		cond += ` AND ` + c
		args = append(args, a...)
	}
	values, few, err := s.terms(ctx, `SELECT v.value FROM index_search_values v WHERE `+cond, args)
	if err != nil {
		return nil, err
	}
	// A few values are named one by one, so the planners see them (PostgreSQL otherwise
	// guessed how many labels a LIKE on the values would join and walked every label).
	// Many are joined; CROSS JOIN makes SQLite start from the values (it would walk every
	// label of that name in value order otherwise).
	from := ` FROM index_search_values v CROSS JOIN index_labels l`
	cond += ` AND l.name = v.name AND l.value = v.value`
	if few {
		if len(values) == 0 {
			return nil, nil
		}
		from, cond, args = ` FROM index_labels l`, `l.name = ? AND l.value IN (`+marks(len(values))+`)`, append([]any{name}, values...)
	}
	label := `l.name || '=' || l.value`
	return []searchPart{
		{"label", `SELECT ` + tagCols + `, ` + label + from + ` JOIN index_tags t ON t.digest = l.digest
			LEFT JOIN index_manifests m ON m.digest = t.digest WHERE ` + cond + lim, args},
		{"label", `SELECT ` + tagCols + `, ` + label + from + ` JOIN index_children c ON c.child = l.digest
			JOIN index_tags t ON t.digest = c.digest LEFT JOIN index_manifests m ON m.digest = t.digest WHERE ` + cond + lim, args},
	}, nil
}

// nameParts searches repository names (listed, or known from tags someone read) and tag
// names, each matched among the distinct terms (search_terms.go).
func (s *sqlStore) nameParts(ctx context.Context, lower, lim string) ([]searchPart, error) {
	named, a1 := s.contains("n", "n.name", "index_search_names_trgm", lower)
	parts := []searchPart{{"repository", `SELECT n.name, '', '', '', '' FROM index_search_names n WHERE ` + named + ` ORDER BY n.name` + lim, a1}}
	tagged, a2 := s.contains("s", "LOWER(s.tag)", "index_search_tags_trgm", lower)
	tags, few, err := s.terms(ctx, `SELECT s.tag FROM index_search_tags s WHERE `+tagged, a2)
	if err != nil {
		return nil, err
	}
	matching, args := `t.tag IN (SELECT s.tag FROM index_search_tags s WHERE `+tagged+`)`, a2
	if few {
		if len(tags) == 0 {
			return parts, nil
		}
		matching, args = `t.tag IN (`+marks(len(tags))+`)`, tags
	}
	if s.d.unindexed != "" {
		dense, err := s.denseTags(ctx, matching, args)
		if err != nil {
			return nil, err
		}
		if dense {
			matching = s.d.unindexed + matching
		}
	}
	return append(parts, searchPart{"tag", `SELECT ` + tagCols + `, ''` + tagFrom + ` WHERE ` + matching + ` ORDER BY t.repository, t.tag` + lim, args}), nil
}

// maxTerms is how many matching terms a search names one by one; past it, it joins them.
var maxTerms = 500

// terms runs q, which selects one text column, for at most maxTerms+1 rows: the terms, and
// whether they are all (at most maxTerms).
func (s *sqlStore) terms(ctx context.Context, q string, args []any) ([]any, bool, error) {
	rows, err := s.db.QueryContext(ctx, s.q(q+` LIMIT `+strconv.Itoa(maxTerms+1)), args...)
	if err != nil {
		return nil, false, fmt.Errorf("%s: search terms: %w", s.d.name, err)
	}
	defer rows.Close()
	var out []any
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, false, fmt.Errorf("%s: read search term: %w", s.d.name, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("%s: search terms: %w", s.d.name, err)
	}
	return out, len(out) <= maxTerms, nil
}

// denseTagRows is where tag hits count as dense: from this many rows on, walking the tags in
// the answer's order finds the first page sooner than reading every hit and sorting it.
var denseTagRows = 2000

// denseTags reports whether the tags matching (a condition on alias t) number denseTagRows
// or more, counting through the tag name index no further than that. A tag in every
// repository ("latest") matches 100,000 rows at a million tags: read through its index and
// sorted, the first page took as long as all of them; walked in order, it comes after a few
// thousand rows. A rare tag is the other way round.
func (s *sqlStore) denseTags(ctx context.Context, matching string, args []any) (bool, error) {
	n, err := s.countUpTo(ctx, `index_tags t WHERE `+matching, args, denseTagRows)
	return n >= denseTagRows, err
}

// countUpTo counts the rows of from (a table and its condition), stopping at most.
func (s *sqlStore) countUpTo(ctx context.Context, from string, args []any, most int) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM `+from+` LIMIT `+strconv.Itoa(most)+`) x`), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("%s: search: %w", s.d.name, err)
	}
	return n, nil
}

// fewValues is how many values a label may have for its values to be read one by one
// rather than through the trigram index.
const fewValues = 1000

// valuesIndexed returns the trigram table to narrow label name's values with, or "" when the
// label has fewer than fewValues values. The trigram index covers every label's values: a
// team's name ("ranking") is also part of thousands of source URLs, and checking each of
// those candidates' label name cost 25–40 ms at a million tags, where reading a team
// label's 40 values takes well under one.
func (s *sqlStore) valuesIndexed(ctx context.Context, name string) (string, error) {
	if !s.d.fts {
		return "", nil // PostgreSQL's planner chooses between its indexes itself
	}
	n, err := s.countUpTo(ctx, `index_search_values WHERE name = ?`, []any{name}, fewValues)
	if err != nil || n < fewValues {
		return "", err
	}
	return "index_search_values_trgm", nil
}

// LabeledTags implements Index.
func (s *sqlStore) LabeledTags(ctx context.Context, repository, name, value string) ([]string, error) {
	cond, args := `l.name = ?`, []any{name}
	if value != "" {
		cond += ` AND LOWER(l.value) LIKE ? ESCAPE '!'`
		args = append(args, "%"+likeEscape(strings.ToLower(value))+"%")
	}
	args = append([]any{repository}, args...)
	args = append(args, args...)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT t.tag FROM index_tags t JOIN index_labels l ON l.digest = t.digest
			WHERE t.repository = ? AND `+cond+`
		UNION SELECT t.tag FROM index_tags t JOIN index_children c ON c.digest = t.digest JOIN index_labels l ON l.digest = c.child
			WHERE t.repository = ? AND `+cond+`
		ORDER BY 1`), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: tags of %s with label %s: %w", s.d.name, repository, name, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			return nil, fmt.Errorf("%s: read labeled tag: %w", s.d.name, err)
		}
		out = append(out, tag)
	}
	return out, rows.Err()
}
