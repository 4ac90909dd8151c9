package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The metadata index: what Berth learned from the registry about repositories, tags and the
// manifests they point to, kept so that a restarted Berth (or another replica) answers pages
// without asking the registry again. Rows keyed by digest describe content and never change;
// tag rows carry when the registry last confirmed them, so readers decide when to revalidate.
// The store does not decide who may read what: callers check the caller's registry access to
// a repository before they show anything of it.

// IndexTag is one tag → digest of the index.
type IndexTag struct {
	Repository string
	Tag        string
	Digest     string
	// Checked is when the registry last confirmed the tag: a notification, a sync, a HEAD.
	Checked time.Time
	// Pushed is when the tag last moved to a new digest, as far as Berth knows; kept when a
	// write confirms the same digest again.
	Pushed time.Time
}

// IndexPlatform is one image of an index (or the single image of a manifest).
type IndexPlatform struct {
	OS           string    `json:"os,omitempty"`
	Architecture string    `json:"architecture,omitempty"`
	Variant      string    `json:"variant,omitempty"`
	Digest       string    `json:"digest"`
	Size         int64     `json:"size,omitempty"`
	Created      time.Time `json:"created,omitzero"`
	// Labels are the image config's labels, searchable by name and value.
	Labels map[string]string `json:"-"`
}

// IndexManifest is what the pages show of one manifest, by digest.
type IndexManifest struct {
	Digest       string
	MediaType    string
	Kind         string // image, index, artifact or schema1
	ArtifactType string
	Size         int64
	Created      time.Time
	Platforms    []IndexPlatform
	Attestations int
	// Subject is the digest this manifest refers to (signatures, SBOMs), if any.
	Subject string
	// Note explains a manifest whose details are partial for good (a schema 1 manifest).
	Note string
	// Labels are an image's config labels; an index's are on its platforms.
	Labels map[string]string
}

// IndexedTag is a tag with the summary of its digest; Manifest is nil until it is indexed.
type IndexedTag struct {
	IndexTag
	Manifest *IndexManifest
	// Referrers counts the manifests of the repository whose subject is the tag's digest.
	Referrers int
}

// MissingManifest names a digest a tag points to whose summary is not indexed yet, and one
// repository it can be read from.
type MissingManifest struct {
	Repository string
	Digest     string
}

// Repository sort orders; a leading "-" reverses.
const (
	SortName   = "name"
	SortPushed = "pushed"
	SortSize   = "size"
)

// RepositoryQuery selects a page of indexed repositories.
type RepositoryQuery struct {
	// Query keeps names containing it (case-insensitive).
	Query string
	// Sort is SortName (default), SortPushed or SortSize, "-" first for descending.
	Sort string
	// Kind keeps repositories holding mainly this kind: image, chart or artifact.
	Kind   string
	Offset int
	Limit  int
}

// RepositorySummary is one catalog row with what the index knows of the repository.
type RepositorySummary struct {
	Name     string
	Tags     int
	LastPush time.Time
	// Size sums the manifests the tags point to, each once.
	Size int64
	// Pulls counts manifest GETs among the stored events (within retention).
	Pulls int
	// Kind is "chart" when a tag is a Helm chart, "image" when one is an image or index,
	// "artifact" when all are other artifacts, "" when nothing is indexed yet.
	Kind string
}

// SearchHit is one tag found by a global search.
type SearchHit struct {
	Repository string
	// Tag is empty for a repository matched by name.
	Tag    string
	Digest string
	Kind   string
	// Match is "repository", "tag", "digest" or "label".
	Match string
	// Label is the matching "name=value" for a label match.
	Label string
}

// ManifestHistory is what the index knows of where a manifest stood.
type ManifestHistory struct {
	// Tagged: a tag of the repository was seen pointing to it.
	Tagged bool
	// Parents are the digests of recorded indexes listing it, sorted.
	Parents []string
}

// MaxSearch is the most hits one Search returns.
const MaxSearch = 500

// Index is the part of Store that keeps the metadata index.
type Index interface {
	// PutRepositories records repositories seen in the catalog at seen.
	PutRepositories(ctx context.Context, names []string, seen time.Time) error
	// DropRepositories forgets repositories (and their tags) last seen before then: after a
	// complete catalog walk that started then, they are gone from the registry.
	DropRepositories(ctx context.Context, before time.Time) error
	// PutTags records tags; a row confirmed later than the one given is kept.
	PutTags(ctx context.Context, tags []IndexTag) error
	// ConfirmTags moves the check time of tags to theirs where the stored row has the same
	// digest and an earlier check (what a revalidation's HEAD said); nothing else changes.
	ConfirmTags(ctx context.Context, tags []IndexTag) error
	// ReplaceTags records the complete tag lists of repositories as read at asOf, in one
	// transaction: tags not in a list whose row is older than asOf are deleted.
	ReplaceTags(ctx context.Context, lists map[string][]IndexTag, asOf time.Time) error
	// DeleteTags forgets tags of a repository.
	DeleteTags(ctx context.Context, repository string, tags []string) error
	// IndexTags returns a repository's indexed tags with their summaries, sorted by name:
	// all of them, or only those named in tags.
	IndexTags(ctx context.Context, repository string, tags ...string) ([]IndexedTag, error)
	// IndexTagOrder returns, for each of a repository's indexed tags in no order, its digest
	// and what sorts it by creation, size or push time.
	IndexTagOrder(ctx context.Context, repository string) ([]TagOrder, error)
	// IndexTagOrderMark returns a value that changes with every write that can change the
	// repository's tag order, check times aside (ok is false while the catalog does not
	// list the repository): an order read after the mark was read is current as long as
	// the mark stays the same.
	IndexTagOrderMark(ctx context.Context, repository string) (mark int64, ok bool, err error)
	// PutManifests records manifest summaries seen in repository (and, for an index, its
	// platforms' labels and digests, for search).
	PutManifests(ctx context.Context, repository string, ms []IndexManifest) error
	// MissingManifests returns up to limit digests after the given one (in digest order) that
	// tags point to without a summary.
	MissingManifests(ctx context.Context, after string, limit int) ([]MissingManifest, error)
	// IndexRepositories returns a page of indexed repositories and how many match.
	IndexRepositories(ctx context.Context, q RepositoryQuery) ([]RepositorySummary, int, error)
	// RepositorySummaries returns the rows of the named repositories that are indexed.
	RepositorySummaries(ctx context.Context, names []string) (map[string]RepositorySummary, error)
	// Search finds tags by repository or tag name, by digest (a "sha256:" prefix: tags
	// pointing at it, directly or as a platform of an index) or by label ("name=value", the
	// value as a substring, or "label:name"); at most limit hits.
	Search(ctx context.Context, query string, limit int) ([]SearchHit, error)
	// LabeledTags returns the names of repository's tags, sorted, whose image (or an image of
	// whose index) has the label name, with a value containing value (case-insensitive) unless
	// value is empty.
	LabeledTags(ctx context.Context, repository, name, value string) ([]string, error)
	// RepositoryManifests returns up to limit digests, sorted, of manifests Berth saw in
	// repository (pushed, or read there) and has not seen deleted.
	RepositoryManifests(ctx context.Context, repository string, limit int) ([]string, error)
	// ManifestHistory tells, for each of digests, whether a tag of repository was seen pointing
	// to it and which recorded indexes (in any repository) list it as a platform or child.
	ManifestHistory(ctx context.Context, repository string, digests []string) (map[string]ManifestHistory, error)
	// Document returns a content-addressed document (a manifest or config) stored by key.
	Document(ctx context.Context, key string) ([]byte, bool, error)
	// PutDocuments stores content-addressed documents by key; existing ones are kept.
	PutDocuments(ctx context.Context, docs map[string][]byte) error
	// IndexState returns a value the index keeps about itself (e.g. when the catalog was
	// last walked completely) and when it was set; ok is false when unset.
	IndexState(ctx context.Context, key string) (value string, updated time.Time, ok bool, err error)
	// SetIndexState sets such a value.
	SetIndexState(ctx context.Context, key, value string) error
	// TakeLease makes holder the holder of key until then, unless another holds it past now.
	TakeLease(ctx context.Context, key, holder string, now, until time.Time) (bool, error)
	// ReleaseLease gives up holder's lease on key.
	ReleaseLease(ctx context.Context, key, holder string) error
}

// PutRepositories implements Index.
func (s *sqlStore) PutRepositories(ctx context.Context, names []string, seen time.Time) error {
	if len(names) == 0 {
		return nil
	}
	return s.indexTx(ctx, "put repositories", func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(names, 500) {
			args := make([]any, 0, 2*len(chunk))
			for _, n := range chunk {
				args = append(args, n, seen.UnixNano())
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO index_repositories (name, seen) VALUES `+values(len(chunk), 2)+`
				ON CONFLICT (name) DO UPDATE SET seen = excluded.seen WHERE index_repositories.seen < excluded.seen`), args...); err != nil {
				return err
			}
			// A new repository may hold tags already (read before the catalog walk reached it).
			if err := s.summarizeNew(ctx, tx, chunk); err != nil {
				return err
			}
		}
		return nil
	})
}

// DropRepositories implements Index.
func (s *sqlStore) DropRepositories(ctx context.Context, before time.Time) error {
	return s.indexTx(ctx, "drop repositories", func(tx *sql.Tx) error {
		t := before.UnixNano()
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM index_tags WHERE checked < ? AND repository IN (SELECT name FROM index_repositories WHERE seen < ?)`), t, t); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM index_repository_summary WHERE name IN (SELECT name FROM index_repositories WHERE seen < ?)`), t); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM index_repositories WHERE seen < ?`), t)
		return err
	})
}

// upsertTag writes tag rows unless a later confirmation is stored; pushed moves only when
// the digest does. It ends a VALUES list of one row or more.
const upsertTag = `INSERT INTO index_tags (repository, tag, digest, checked, pushed) VALUES %s
	ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, checked = excluded.checked,
		pushed = CASE WHEN index_tags.digest = excluded.digest THEN index_tags.pushed ELSE excluded.pushed END
	WHERE index_tags.checked <= excluded.checked`

// rowsPerStatement bounds a multi-row write: 5 arguments a row or fewer stay far below both
// databases' limits on bound parameters.
const rowsPerStatement = 500

// putTags writes tags a few hundred rows per statement. One statement per row made SQLite's
// trigram index flush a segment per tag (its triggers' savepoints), which then cost merges:
// 45% of a fill's time. A key given twice keeps its latest confirmation (PostgreSQL refuses
// to update one row twice in a statement); row after row, the stored row's push time could
// move with the first one and stay with the second, here it moves only if the kept one's
// digest differs from the stored one (registries list a tag once, so only a caller's
// duplicate could tell).
func (s *sqlStore) putTags(ctx context.Context, tx *sql.Tx, tags []IndexTag) error {
	latest := make(map[[2]string]int, len(tags))
	var rows []IndexTag
	for _, t := range tags {
		k := [2]string{t.Repository, t.Tag}
		if i, ok := latest[k]; ok {
			if !t.Checked.Before(rows[i].Checked) {
				rows[i] = t
			}
			continue
		}
		latest[k] = len(rows)
		rows = append(rows, t)
	}
	for chunk := range slices.Chunk(rows, rowsPerStatement) {
		args := make([]any, 0, 5*len(chunk))
		for _, t := range chunk {
			pushed := t.Pushed
			if pushed.IsZero() {
				pushed = t.Checked
			}
			args = append(args, t.Repository, t.Tag, t.Digest, t.Checked.UnixNano(), pushed.UnixNano())
		}
		if _, err := tx.ExecContext(ctx, s.q(fmt.Sprintf(upsertTag, values(len(chunk), 5))), args...); err != nil {
			return fmt.Errorf("tags of %s: %w", chunk[0].Repository, err)
		}
	}
	// Every digest a tag was given is recorded, also one a later row of the list replaced.
	tagged := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		tagged = append(tagged, t.Repository, t.Digest)
	}
	return s.insertRows(ctx, tx, insertTagged, 2, tagged)
}

// insertRows runs stmt, whose VALUES list is %s, over args (cols a row) in statements of at
// most rowsPerStatement rows.
func (s *sqlStore) insertRows(ctx context.Context, tx *sql.Tx, stmt string, cols int, args []any) error {
	for chunk := range slices.Chunk(args, cols*rowsPerStatement) {
		if _, err := tx.ExecContext(ctx, s.q(fmt.Sprintf(stmt, values(len(chunk)/cols, cols))), chunk...); err != nil {
			return err
		}
	}
	return nil
}

const insertTagged = `INSERT INTO index_tagged (repository, digest) VALUES %s ON CONFLICT (repository, digest) DO NOTHING`

// PutTags implements Index.
func (s *sqlStore) PutTags(ctx context.Context, tags []IndexTag) error {
	if len(tags) == 0 {
		return nil
	}
	return s.indexTx(ctx, "put tags", func(tx *sql.Tx) error {
		if err := s.putTags(ctx, tx, tags); err != nil {
			return err
		}
		names := make([]string, len(tags))
		for i, t := range tags {
			names[i] = t.Repository
		}
		return s.summarize(ctx, tx, names)
	})
}

// ReplaceTags implements Index.
func (s *sqlStore) ReplaceTags(ctx context.Context, lists map[string][]IndexTag, asOf time.Time) error {
	return s.indexTx(ctx, "replace tags", func(tx *sql.Tx) error {
		var touched []string
		for repository, tags := range lists {
			touched = append(touched, repository)
			for _, t := range tags {
				touched = append(touched, t.Repository)
			}
			if err := s.putTags(ctx, tx, tags); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, s.q(`SELECT tag FROM index_tags WHERE repository = ? AND checked < ?`), repository, asOf.UnixNano())
			if err != nil {
				return err
			}
			keep := map[string]bool{}
			for _, t := range tags {
				keep[t.Tag] = true
			}
			var gone []string
			for rows.Next() {
				var tag string
				if err := rows.Scan(&tag); err != nil {
					rows.Close()
					return err
				}
				if !keep[tag] {
					gone = append(gone, tag)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if err := s.deleteTags(ctx, tx, repository, gone); err != nil {
				return err
			}
		}
		return s.summarize(ctx, tx, touched)
	})
}

func (s *sqlStore) deleteTags(ctx context.Context, tx *sql.Tx, repository string, tags []string) error {
	for chunk := range slices.Chunk(tags, 500) {
		args := []any{repository}
		for _, t := range chunk {
			args = append(args, t)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM index_tags WHERE repository = ? AND tag IN (`+marks(len(chunk))+`)`), args...); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTags implements Index.
func (s *sqlStore) DeleteTags(ctx context.Context, repository string, tags []string) error {
	return s.indexTx(ctx, "delete tags of "+repository, func(tx *sql.Tx) error {
		if err := s.deleteTags(ctx, tx, repository, tags); err != nil {
			return err
		}
		return s.summarize(ctx, tx, []string{repository})
	})
}

// applyIndex keeps the index's tags in step with a push or delete event, in the event's own
// transaction: a notification is the registry's word, so it is trusted as a confirmation. It
// reports whether the event's repository's summary may have changed.
func (s *sqlStore) applyIndex(ctx context.Context, tx *sql.Tx, e Event) (bool, error) {
	ts := e.Timestamp.UnixNano()
	var err error
	switch {
	case e.Action == ActionPush && e.Repository != "" && e.Digest != "" && e.Manifest():
		if _, err = tx.ExecContext(ctx, s.q(`INSERT INTO index_repositories (name, seen) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET seen = excluded.seen WHERE index_repositories.seen < excluded.seen`), e.Repository, ts); err != nil {
			break
		}
		if _, err = tx.ExecContext(ctx, s.q(`INSERT INTO index_repository_manifests (repository, digest) VALUES (?, ?)
			ON CONFLICT (repository, digest) DO NOTHING`), e.Repository, e.Digest); err != nil {
			break
		}
		if e.Tag != "" {
			if _, err = tx.ExecContext(ctx, s.q(fmt.Sprintf(upsertTag, values(1, 5))), e.Repository, e.Tag, e.Digest, ts, ts); err != nil {
				break
			}
			_, err = tx.ExecContext(ctx, s.q(fmt.Sprintf(insertTagged, values(1, 2))), e.Repository, e.Digest)
		}
	case e.Action == ActionDelete && e.Tag != "":
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM index_tags WHERE repository = ? AND tag = ? AND checked <= ?`), e.Repository, e.Tag, ts)
	case e.Action == ActionDelete && e.Digest != "":
		if _, err = tx.ExecContext(ctx, s.q(`DELETE FROM index_tags WHERE repository = ? AND digest = ? AND checked <= ?`), e.Repository, e.Digest, ts); err != nil {
			break
		}
		if _, err = tx.ExecContext(ctx, s.q(`DELETE FROM index_repository_manifests WHERE repository = ? AND digest = ?`), e.Repository, e.Digest); err != nil {
			break
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM index_tagged WHERE repository = ? AND digest = ?`), e.Repository, e.Digest)
	case e.Action == ActionDelete && e.Repository != "":
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM index_tags WHERE repository = ? AND checked <= ?`), e.Repository, ts)
	}
	if err != nil {
		return false, fmt.Errorf("%s: update index for event %s: %w", s.d.name, e.ID, err)
	}
	return changesIndex(e), nil
}

// changesIndex reports whether applyIndex writes index rows for e.
func changesIndex(e Event) bool {
	switch e.Action {
	case ActionPush:
		return e.Repository != "" && e.Digest != "" && e.Manifest()
	case ActionDelete:
		return e.Tag != "" || e.Digest != "" || e.Repository != ""
	}
	return false
}

// Document implements Index.
func (s *sqlStore) Document(ctx context.Context, key string) ([]byte, bool, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT data FROM index_documents WHERE key = ?`), key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: document %s: %w", s.d.name, key, err)
	}
	return data, true, nil
}

// PutDocuments implements Index.
func (s *sqlStore) PutDocuments(ctx context.Context, docs map[string][]byte) error {
	if len(docs) == 0 {
		return nil
	}
	return s.inTx(ctx, "store documents", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO index_documents (key, data) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for k, d := range docs {
			if _, err := stmt.ExecContext(ctx, k, d); err != nil {
				return fmt.Errorf("document %s: %w", k, err)
			}
		}
		return nil
	})
}

// IndexState implements Index.
func (s *sqlStore) IndexState(ctx context.Context, key string) (string, time.Time, bool, error) {
	var value string
	var updated int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value, updated FROM index_state WHERE key = ?`), key).Scan(&value, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("%s: index state %s: %w", s.d.name, key, err)
	}
	return value, time.Unix(0, updated).UTC(), true, nil
}

// SetIndexState implements Index.
func (s *sqlStore) SetIndexState(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO index_state (key, value, updated) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated`), key, value, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("%s: set index state %s: %w", s.d.name, key, err)
	}
	return nil
}

// inTx runs f in one transaction.
func (s *sqlStore) inTx(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %s: begin: %w", s.d.name, what, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return fmt.Errorf("%s: %s: %w", s.d.name, what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %s: commit: %w", s.d.name, what, err)
	}
	s.maybeOptimize(ctx)
	return nil
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// values returns n rows of cols placeholders each, for a multi-row INSERT.
func values(n, cols int) string {
	row := "(" + marks(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}
