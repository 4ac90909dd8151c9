package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Berth's own scans (server/scan): a report per manifest digest with its severity counts,
// findings and SBOMs, and the vulnerability database the findings were matched against.
// Reports are keyed by digest like the rest of the index, so every repository holding the
// image shares them; readers check the caller's access to a repository first.

// scanMigration creates the report, finding and database tables; blob is the dialect's
// binary column type.
func scanMigration(blob string) string {
	return `CREATE TABLE scan_reports (
		digest TEXT PRIMARY KEY,
		db_version TEXT NOT NULL DEFAULT '',
		scanned BIGINT NOT NULL,
		error TEXT NOT NULL DEFAULT '',
		packages INTEGER NOT NULL DEFAULT 0,
		critical INTEGER NOT NULL DEFAULT 0,
		high INTEGER NOT NULL DEFAULT 0,
		medium INTEGER NOT NULL DEFAULT 0,
		low INTEGER NOT NULL DEFAULT 0,
		unknown INTEGER NOT NULL DEFAULT 0,
		fixable_critical INTEGER NOT NULL DEFAULT 0,
		spdx ` + blob + `,
		cyclonedx ` + blob + `
	);
	CREATE TABLE scan_findings (
		digest TEXT NOT NULL,
		id TEXT NOT NULL,
		package TEXT NOT NULL,
		version TEXT NOT NULL DEFAULT '',
		ecosystem TEXT NOT NULL DEFAULT '',
		severity TEXT NOT NULL,
		fixed TEXT NOT NULL DEFAULT '',
		summary TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (digest, id, package, version)
	);
	CREATE TABLE vulndb_archives (
		ecosystem TEXT PRIMARY KEY,
		records INTEGER NOT NULL,
		data ` + blob + ` NOT NULL
	);
	CREATE TABLE vulndb_state (
		key TEXT PRIMARY KEY,
		version TEXT NOT NULL,
		source TEXT NOT NULL DEFAULT '',
		etag TEXT NOT NULL DEFAULT '',
		records INTEGER NOT NULL DEFAULT 0,
		newest BIGINT NOT NULL DEFAULT 0,
		loaded BIGINT NOT NULL
	)`
}

// ScanFinding is one vulnerability found in one package of a scanned image.
type ScanFinding struct {
	ID        string
	Package   string
	Version   string
	Ecosystem string
	// Severity is critical, high, medium, low or unknown.
	Severity string
	// Fixed is the first version without the vulnerability, "" when none is known.
	Fixed   string
	Summary string
}

// ScanReport is Berth's own scan of one manifest digest.
type ScanReport struct {
	Digest string
	// DBVersion names the vulnerability database the findings come from ("" without one).
	DBVersion string
	Scanned   time.Time
	// Error says why the scan failed; the counts are zero then.
	Error                                string
	Packages                             int
	Critical, High, Medium, Low, Unknown int
	// FixableCritical counts critical findings with a fixed version.
	FixableCritical int
	// Findings is filled by ScanReport, not by ScanReports.
	Findings []ScanFinding
	// SPDX and CycloneDX are the SBOMs as JSON; only PutScanReport and ScanSBOM carry them.
	SPDX, CycloneDX []byte
}

// ScanTarget is a manifest to scan and one repository it can be read from.
type ScanTarget struct {
	Repository string
	Digest     string
}

// VulnDB describes the loaded vulnerability database.
type VulnDB struct {
	// Version is the digest of its content: reports matched against another are stale.
	Version string
	// Source is the URL or file it came from; ETag the URL's answer, for conditional fetches.
	Source, ETag string
	Records      int
	// Newest is the latest modification time among its records: the database's age.
	Newest time.Time
	// Loaded is when this replica set loaded it.
	Loaded time.Time
	// Archives are the OSV zip archive per ecosystem; VulnDBState leaves them nil.
	Archives map[string][]byte
	// Counts are the records per ecosystem.
	Counts map[string]int
}

// Scans keeps Berth's scan reports and vulnerability database.
type Scans interface {
	// PutScanReport stores r, replacing the digest's previous report and findings.
	PutScanReport(ctx context.Context, r ScanReport) error
	// ScanReport returns the report of digest with its findings (worst first), without SBOMs.
	ScanReport(ctx context.Context, digest string) (ScanReport, bool, error)
	// ScanReports returns the counts of the digests that have a report.
	ScanReports(ctx context.Context, digests []string) (map[string]ScanReport, error)
	// ScanSBOM returns a stored SBOM: format is "spdx" or "cyclonedx".
	ScanSBOM(ctx context.Context, digest, format string) ([]byte, bool, error)
	// WorstSeverities returns, per repository, the worst severity among Berth's reports of
	// the manifests its tags point to: critical … low, unknown, or "none" (scanned, no
	// findings); repositories without a report against a database are left out.
	WorstSeverities(ctx context.Context, repositories []string) (map[string]string, error)
	// ScanStale returns up to limit tagged images and indexes whose report is missing or was
	// matched against a database other than version.
	ScanStale(ctx context.Context, version string, limit int) ([]ScanTarget, error)
	// PutVulnDB replaces the vulnerability database in one transaction.
	PutVulnDB(ctx context.Context, db VulnDB) error
	// VulnDBState returns the database's description without archives; ok is false when none
	// is loaded.
	VulnDBState(ctx context.Context) (VulnDB, bool, error)
	// VulnDBArchives returns the database with its archives.
	VulnDBArchives(ctx context.Context) (VulnDB, bool, error)
}

// PutScanReport implements Scans.
func (s *sqlStore) PutScanReport(ctx context.Context, r ScanReport) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM scan_findings WHERE digest = ?`), r.Digest); err != nil {
		return s.writeError("delete findings", err)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO scan_reports (digest, db_version, scanned, error, packages,
		critical, high, medium, low, unknown, fixable_critical, spdx, cyclonedx)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET db_version = excluded.db_version, scanned = excluded.scanned,
		error = excluded.error, packages = excluded.packages, critical = excluded.critical, high = excluded.high,
		medium = excluded.medium, low = excluded.low, unknown = excluded.unknown,
		fixable_critical = excluded.fixable_critical, spdx = excluded.spdx, cyclonedx = excluded.cyclonedx`),
		r.Digest, r.DBVersion, r.Scanned.UnixNano(), r.Error, r.Packages, r.Critical, r.High, r.Medium, r.Low,
		r.Unknown, r.FixableCritical, r.SPDX, r.CycloneDX)
	if err != nil {
		return s.writeError("put scan report", err)
	}
	for _, f := range r.Findings {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO scan_findings (digest, id, package, version, ecosystem, severity, fixed, summary)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			r.Digest, f.ID, f.Package, f.Version, f.Ecosystem, f.Severity, f.Fixed, f.Summary)
		if err != nil {
			return s.writeError("put finding", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit scan report: %w", s.d.name, err)
	}
	return nil
}

const reportColumns = `digest, db_version, scanned, error, packages, critical, high, medium, low, unknown, fixable_critical`

func scanReportRow(row interface{ Scan(...any) error }) (ScanReport, error) {
	var r ScanReport
	var scanned int64
	err := row.Scan(&r.Digest, &r.DBVersion, &scanned, &r.Error, &r.Packages, &r.Critical, &r.High, &r.Medium,
		&r.Low, &r.Unknown, &r.FixableCritical)
	r.Scanned = time.Unix(0, scanned).UTC()
	return r, err
}

// ScanReport implements Scans.
func (s *sqlStore) ScanReport(ctx context.Context, digest string) (ScanReport, bool, error) {
	r, err := scanReportRow(s.db.QueryRowContext(ctx, s.q(`SELECT `+reportColumns+` FROM scan_reports WHERE digest = ?`), digest))
	if errors.Is(err, sql.ErrNoRows) {
		return ScanReport{}, false, nil
	}
	if err != nil {
		return ScanReport{}, false, fmt.Errorf("%s: scan report: %w", s.d.name, err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, package, version, ecosystem, severity, fixed, summary
		FROM scan_findings WHERE digest = ?
		ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, id, package`), digest)
	if err != nil {
		return ScanReport{}, false, fmt.Errorf("%s: findings: %w", s.d.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var f ScanFinding
		if err := rows.Scan(&f.ID, &f.Package, &f.Version, &f.Ecosystem, &f.Severity, &f.Fixed, &f.Summary); err != nil {
			return ScanReport{}, false, fmt.Errorf("%s: findings: %w", s.d.name, err)
		}
		r.Findings = append(r.Findings, f)
	}
	return r, true, rows.Err()
}

// ScanReports implements Scans.
func (s *sqlStore) ScanReports(ctx context.Context, digests []string) (map[string]ScanReport, error) {
	out := map[string]ScanReport{}
	for chunk := range chunks(digests, 500) {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		args := make([]any, len(chunk))
		for i, d := range chunk {
			args[i] = d
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+reportColumns+` FROM scan_reports WHERE digest IN (`+marks+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("%s: scan reports: %w", s.d.name, err)
		}
		for rows.Next() {
			r, err := scanReportRow(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: scan reports: %w", s.d.name, err)
			}
			out[r.Digest] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chunks splits s into slices of at most n.
func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// ScanSBOM implements Scans.
func (s *sqlStore) ScanSBOM(ctx context.Context, digest, format string) ([]byte, bool, error) {
	column := map[string]string{"spdx": "spdx", "cyclonedx": "cyclonedx"}[format]
	if column == "" {
		return nil, false, nil
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT `+column+` FROM scan_reports WHERE digest = ?`), digest).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && len(b) == 0) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: sbom: %w", s.d.name, err)
	}
	return b, true, nil
}

// ScanStale implements Scans.
func (s *sqlStore) ScanStale(ctx context.Context, version string, limit int) ([]ScanTarget, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT MIN(t.repository), t.digest FROM index_tags t
		JOIN index_manifests m ON m.digest = t.digest AND m.kind IN ('image', 'index')
		LEFT JOIN scan_reports r ON r.digest = t.digest
		WHERE r.digest IS NULL OR r.db_version <> ?
		GROUP BY t.digest ORDER BY t.digest LIMIT ?`), version, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: stale scans: %w", s.d.name, err)
	}
	defer rows.Close()
	var out []ScanTarget
	for rows.Next() {
		var t ScanTarget
		if err := rows.Scan(&t.Repository, &t.Digest); err != nil {
			return nil, fmt.Errorf("%s: stale scans: %w", s.d.name, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// WorstSeverities implements Scans: one query for a catalog page's repositories, over the
// reports of the manifests their tags point to.
func (s *sqlStore) WorstSeverities(ctx context.Context, repositories []string) (map[string]string, error) {
	out := map[string]string{}
	for chunk := range chunks(repositories, 500) {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		args := make([]any, len(chunk))
		for i, r := range chunk {
			args[i] = r
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT t.repository, MAX(CASE WHEN r.critical > 0 THEN 5
			WHEN r.high > 0 THEN 4 WHEN r.medium > 0 THEN 3 WHEN r.low > 0 THEN 2 WHEN r.unknown > 0 THEN 1 ELSE 0 END)
			FROM index_tags t JOIN scan_reports r ON r.digest = t.digest
			WHERE t.repository IN (`+marks+`) AND r.error = '' AND r.db_version <> ''
			GROUP BY t.repository`), args...)
		if err != nil {
			return nil, fmt.Errorf("%s: worst severities: %w", s.d.name, err)
		}
		for rows.Next() {
			var repo string
			var rank int
			if err := rows.Scan(&repo, &rank); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: worst severities: %w", s.d.name, err)
			}
			out[repo] = [...]string{"none", "unknown", "low", "medium", "high", "critical"}[min(max(rank, 0), 5)]
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
