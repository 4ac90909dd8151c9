package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Manifest rows of the metadata index: digest summaries, what tags point to, and where a
// manifest stood (tagged, listed by an index).

const manifestColumns = `m.media_type, m.kind, m.artifact_type, m.size, m.created, m.platforms, m.attestations, m.subject, m.note`

// scanManifest reads manifestColumns (nullable, from a LEFT JOIN) into a summary, or nil.
func scanManifest(digest string, mediaType, kind, artifactType, platforms, subject, note sql.NullString, size, created, attestations sql.NullInt64) (*IndexManifest, error) {
	if !kind.Valid {
		return nil, nil
	}
	m := &IndexManifest{
		Digest: digest, MediaType: mediaType.String, Kind: kind.String, ArtifactType: artifactType.String,
		Size: size.Int64, Attestations: int(attestations.Int64), Subject: subject.String, Note: note.String,
	}
	if created.Int64 != 0 {
		m.Created = time.Unix(0, created.Int64).UTC()
	}
	if err := json.Unmarshal([]byte(platforms.String), &m.Platforms); err != nil {
		return nil, fmt.Errorf("platforms of %s: %w", digest, err)
	}
	if len(m.Platforms) == 0 {
		m.Platforms = nil
	}
	return m, nil
}

// IndexTags implements Index.
func (s *sqlStore) IndexTags(ctx context.Context, repository string, tags ...string) ([]IndexedTag, error) {
	if len(tags) == 0 {
		return s.indexTags(ctx, repository, nil)
	}
	// A page's window of a large repository: only its rows, not every row to pick them.
	out := []IndexedTag{}
	for chunk := range slices.Chunk(tags, 500) {
		rows, err := s.indexTags(ctx, repository, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	slices.SortFunc(out, func(a, b IndexedTag) int { return strings.Compare(a.Tag, b.Tag) })
	return out, nil
}

// indexTags reads repository's tag rows, all of them or those named in tags.
func (s *sqlStore) indexTags(ctx context.Context, repository string, tags []string) ([]IndexedTag, error) {
	args := []any{repository}
	named := ""
	if len(tags) > 0 {
		named = " AND t.tag IN (?" + strings.Repeat(", ?", len(tags)-1) + ")"
		for _, t := range tags {
			args = append(args, t)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT t.tag, t.digest, t.checked, t.pushed, `+manifestColumns+`,
			(SELECT COUNT(*) FROM index_manifests r WHERE r.subject = t.digest AND EXISTS
				(SELECT 1 FROM index_repository_manifests rm WHERE rm.repository = t.repository AND rm.digest = r.digest))
		FROM index_tags t LEFT JOIN index_manifests m ON m.digest = t.digest
		WHERE t.repository = ?`+named+` ORDER BY t.tag`), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: index tags of %s: %w", s.d.name, repository, err)
	}
	defer rows.Close()
	out := []IndexedTag{}
	for rows.Next() {
		t := IndexedTag{IndexTag: IndexTag{Repository: repository}}
		var checked, pushed int64
		var mediaType, kind, artifactType, platforms, subject, note sql.NullString
		var size, created, attestations sql.NullInt64
		if err := rows.Scan(&t.Tag, &t.Digest, &checked, &pushed, &mediaType, &kind, &artifactType, &size, &created,
			&platforms, &attestations, &subject, &note, &t.Referrers); err != nil {
			return nil, fmt.Errorf("%s: read index tag: %w", s.d.name, err)
		}
		t.Checked, t.Pushed = time.Unix(0, checked).UTC(), time.Unix(0, pushed).UTC()
		if t.Manifest, err = scanManifest(t.Digest, mediaType, kind, artifactType, platforms, subject, note, size, created, attestations); err != nil {
			return nil, fmt.Errorf("%s: %w", s.d.name, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read index tags: %w", s.d.name, err)
	}
	return out, nil
}

// PutManifests implements Index.
func (s *sqlStore) PutManifests(ctx context.Context, repository string, ms []IndexManifest) error {
	if len(ms) == 0 {
		return nil
	}
	return s.indexTx(ctx, "put manifests", func(tx *sql.Tx) error {
		fresh, err := s.putManifestRows(ctx, tx, ms)
		if err != nil {
			return err
		}
		if repository != "" {
			held := make([]any, 0, 2*len(ms))
			for _, m := range ms {
				held = append(held, repository, m.Digest)
			}
			if err := s.insertRows(ctx, tx, `INSERT INTO index_repository_manifests (repository, digest) VALUES %s
				ON CONFLICT (repository, digest) DO NOTHING`, 2, held); err != nil {
				return err
			}
		}
		// Children and labels of the new manifests (one stored already, by another replica,
		// has its children and labels too), a few hundred rows per statement (row by row,
		// SQLite's trigram index flushed a segment per label).
		var added []string
		var children, labels []any
		for _, m := range ms {
			if !fresh[m.Digest] {
				continue
			}
			delete(fresh, m.Digest)
			added = append(added, m.Digest)
			own := IndexPlatform{Digest: m.Digest, Labels: m.Labels}
			for _, p := range append([]IndexPlatform{own}, m.Platforms...) {
				if p.Digest != "" && p.Digest != m.Digest {
					children = append(children, m.Digest, p.Digest)
				}
				for k, v := range p.Labels {
					labels = append(labels, p.Digest, k, v)
				}
			}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO index_children (digest, child) VALUES %s ON CONFLICT (digest, child) DO NOTHING`, 2, children); err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO index_labels (digest, name, value) VALUES %s ON CONFLICT (digest, name) DO NOTHING`, 3, labels); err != nil {
			return err
		}
		// A summary arriving changes the size and kind of every repository tagging it.
		return s.summarizeDigests(ctx, tx, added)
	})
}

// manifestRowsPerStatement keeps a manifest write's 10 arguments a row under both databases'
// limits on bound parameters.
const manifestRowsPerStatement = 200

// putManifestRows writes the manifests' rows, a few hundred per statement, and returns the
// digests whose rows are new.
func (s *sqlStore) putManifestRows(ctx context.Context, tx *sql.Tx, ms []IndexManifest) (map[string]bool, error) {
	fresh := map[string]bool{}
	for chunk := range slices.Chunk(ms, manifestRowsPerStatement) {
		args := make([]any, 0, 10*len(chunk))
		for _, m := range chunk {
			if m.Digest == "" {
				return nil, errors.New("manifest without digest")
			}
			platforms, err := json.Marshal(m.Platforms)
			if err != nil {
				return nil, err
			}
			if m.Platforms == nil {
				platforms = []byte("[]")
			}
			var created int64
			if !m.Created.IsZero() {
				created = m.Created.UnixNano()
			}
			args = append(args, m.Digest, m.MediaType, m.Kind, m.ArtifactType, m.Size, created, string(platforms), m.Attestations, m.Subject, m.Note)
		}
		rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO index_manifests (digest, media_type, kind, artifact_type, size, created, platforms, attestations, subject, note)
			VALUES `+values(len(chunk), 10)+` ON CONFLICT (digest) DO NOTHING RETURNING digest`), args...)
		if err != nil {
			return nil, fmt.Errorf("manifests from %s: %w", chunk[0].Digest, err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, err
			}
			fresh[d] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("manifests from %s: %w", chunk[0].Digest, err)
		}
	}
	return fresh, nil
}

// MissingManifests implements Index.
func (s *sqlStore) MissingManifests(ctx context.Context, after string, limit int) ([]MissingManifest, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT MIN(t.repository), t.digest FROM index_tags t
		WHERE t.digest > ? AND NOT EXISTS (SELECT 1 FROM index_manifests m WHERE m.digest = t.digest)
		GROUP BY t.digest ORDER BY t.digest LIMIT `+strconv.Itoa(limit)), after)
	if err != nil {
		return nil, fmt.Errorf("%s: missing manifests: %w", s.d.name, err)
	}
	defer rows.Close()
	var out []MissingManifest
	for rows.Next() {
		var m MissingManifest
		if err := rows.Scan(&m.Repository, &m.Digest); err != nil {
			return nil, fmt.Errorf("%s: read missing manifest: %w", s.d.name, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// RepositoryManifests implements Index.
func (s *sqlStore) RepositoryManifests(ctx context.Context, repository string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT digest FROM index_repository_manifests WHERE repository = ? ORDER BY digest LIMIT `+strconv.Itoa(limit)), repository)
	if err != nil {
		return nil, fmt.Errorf("%s: manifests of %s: %w", s.d.name, repository, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("%s: read manifest of %s: %w", s.d.name, repository, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ManifestHistory implements Index.
func (s *sqlStore) ManifestHistory(ctx context.Context, repository string, digests []string) (map[string]ManifestHistory, error) {
	out := make(map[string]ManifestHistory, len(digests))
	read := func(query string, args []any, fn func(a, b string)) error {
		rows, err := s.db.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return fmt.Errorf("%s: manifest history in %s: %w", s.d.name, repository, err)
		}
		defer rows.Close()
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				return fmt.Errorf("%s: read manifest history: %w", s.d.name, err)
			}
			fn(a, b)
		}
		return rows.Err()
	}
	for chunk := range slices.Chunk(digests, 500) {
		args := make([]any, 0, len(chunk)+1)
		for _, d := range chunk {
			args = append(args, d)
		}
		err := read(`SELECT child, digest FROM index_children WHERE child IN (`+marks(len(chunk))+`) ORDER BY child, digest`, args, func(child, parent string) {
			h := out[child]
			h.Parents = append(h.Parents, parent)
			out[child] = h
		})
		if err != nil {
			return nil, err
		}
		err = read(`SELECT digest, repository FROM index_tagged WHERE repository = ? AND digest IN (`+marks(len(chunk))+`)`, append([]any{repository}, args...), func(d, _ string) {
			h := out[d]
			h.Tagged = true
			out[d] = h
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
