package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Catalog pages from the metadata index: per-repository summary rows with their pulls.

// likeEscape escapes LIKE's wildcards; queries use ESCAPE '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

var kinds = []string{"", "artifact", "image", "chart"}

func (s *sqlStore) scanSummaries(rows *sql.Rows) ([]RepositorySummary, error) {
	defer rows.Close()
	var out []RepositorySummary
	for rows.Next() {
		var r RepositorySummary
		var pushed int64
		var kind int
		if err := rows.Scan(&r.Name, &r.Tags, &pushed, &kind, &r.Size); err != nil {
			return nil, fmt.Errorf("%s: read repository row: %w", s.d.name, err)
		}
		if pushed != 0 {
			r.LastPush = time.Unix(0, pushed).UTC()
		}
		if kind >= 0 && kind < len(kinds) {
			r.Kind = kinds[kind]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// summaryRow is what scanSummaries reads from index_repository_summary.
const summaryRow = `SELECT name, tags, last_push, kind, size FROM index_repository_summary`

// IndexRepositories implements Index.
func (s *sqlStore) IndexRepositories(ctx context.Context, q RepositoryQuery) ([]RepositorySummary, int, error) {
	var conds []string
	var args []any
	if qs := strings.ToLower(strings.TrimSpace(q.Query)); qs != "" {
		// Through the name terms' trigram index (search_terms.go): counting the matches
		// scanned every repository's name (18 ms at 100,000 repositories).
		named, a := s.contains("n", "n.name", "index_search_names_trgm", qs)
		conds = append(conds, `name IN (SELECT n.name FROM index_search_names n WHERE `+named+`)`)
		args = append(args, a...)
	}
	if q.Kind != "" {
		code := slices.Index(kinds, q.Kind)
		if code <= 0 {
			return nil, 0, fmt.Errorf("%s: unknown repository kind %q", s.d.name, q.Kind)
		}
		conds = append(conds, `kind = ?`)
		args = append(args, code)
	}
	where := ""
	if len(conds) > 0 {
		where = ` WHERE ` + strings.Join(conds, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM index_repository_summary`+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("%s: count repositories: %w", s.d.name, err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	dir := " ASC"
	if strings.HasPrefix(q.Sort, "-") {
		dir = " DESC"
	}
	// Ties on an aggregate go by name, ascending either way.
	order := `name` + dir
	switch strings.TrimPrefix(q.Sort, "-") {
	case SortPushed:
		order = `last_push` + dir + `, name`
	case SortSize:
		order = `size` + dir + `, name`
	}
	rows, err := s.db.QueryContext(ctx, s.q(summaryRow+where+` ORDER BY `+order+
		` LIMIT `+strconv.Itoa(limit)+` OFFSET `+strconv.Itoa(max(0, q.Offset))), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: repositories: %w", s.d.name, err)
	}
	out, err := s.scanSummaries(rows)
	if err != nil {
		return nil, 0, err
	}
	if err := s.addPulls(ctx, out); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// RepositorySummaries implements Index.
func (s *sqlStore) RepositorySummaries(ctx context.Context, names []string) (map[string]RepositorySummary, error) {
	out := map[string]RepositorySummary{}
	for chunk := range slices.Chunk(names, 500) {
		args := make([]any, len(chunk))
		for i, n := range chunk {
			args[i] = n
		}
		rows, err := s.db.QueryContext(ctx, s.q(summaryRow+` WHERE name IN (`+marks(len(chunk))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("%s: repository rows: %w", s.d.name, err)
		}
		rs, err := s.scanSummaries(rows)
		if err != nil {
			return nil, err
		}
		if err := s.addPulls(ctx, rs); err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[r.Name] = r
		}
	}
	return out, nil
}

// addPulls fills in the counted pulls of each row from the events.
func (s *sqlStore) addPulls(ctx context.Context, rs []RepositorySummary) error {
	if len(rs) == 0 {
		return nil
	}
	at := map[string]int{}
	args := []any{true}
	for i, r := range rs {
		at[r.Name] = i
		args = append(args, r.Name)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT repository, COUNT(*) FROM events WHERE `+countedPull+`
		AND repository IN (`+marks(len(rs))+`) GROUP BY repository`), args...)
	if err != nil {
		return fmt.Errorf("%s: pulls: %w", s.d.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return err
		}
		rs[at[name]].Pulls = n
	}
	return rows.Err()
}
