package api

import "time"

// ScanRequest asks Berth to scan an image now (POST /api/v1/scans).
type ScanRequest struct {
	Repository string `json:"repository"`
	// Reference is a tag or digest.
	Reference string `json:"reference"`
}

// Scan states.
const (
	ScanQueued     = "queued"
	ScanDone       = "scanned"
	ScanFailed     = "failed"
	ScanNotScanned = "not scanned"
)

// ScanReport is Berth's own scan of one image (GET /api/v1/scans/{digest}).
type ScanReport struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	// State is queued, scanned, failed or "not scanned".
	State   string    `json:"state"`
	Job     string    `json:"job,omitempty"`
	Scanned time.Time `json:"scanned,omitzero"`
	Error   string    `json:"error,omitempty"`
	// Source names the scanner: "Berth".
	Source     string     `json:"source"`
	Packages   int        `json:"packages"`
	Severities Severities `json:"severities"`
	// FixableCritical counts critical findings with a fixed version.
	FixableCritical int       `json:"fixableCritical"`
	Findings        []Finding `json:"findings"`
	// Stale says the report was matched against an older database than the current one.
	Stale    bool         `json:"stale,omitempty"`
	Database VulnDBStatus `json:"database"`
}

// VulnDBStatus describes Berth's vulnerability database (GET /api/v1/vulndb).
type VulnDBStatus struct {
	Loaded  bool   `json:"loaded"`
	Version string `json:"version,omitempty"`
	Source  string `json:"source,omitempty"`
	Records int    `json:"records,omitempty"`
	// Newest is the latest modification among its advisories: the database's age.
	Newest time.Time `json:"newest,omitzero"`
	// Age says it for people: "database from 3 days ago".
	Age string `json:"age,omitempty"`
	// LoadedAt is when it was fetched or imported.
	LoadedAt   time.Time      `json:"loadedAt,omitzero"`
	Ecosystems map[string]int `json:"ecosystems,omitempty"`
}

// BerthScanFormat is the Format of Berth's own report among an image's documents.
const BerthScanFormat = "Berth scan (OSV)"

// ReportSource names the source of a vulnerability report of the given document format:
// "Berth scan" for Berth's own, "attached (FORMAT)" for one someone attached.
func ReportSource(format string) string {
	if format == BerthScanFormat {
		return "Berth scan"
	}
	if format == "" {
		return "attached report"
	}
	return "attached (" + format + ")"
}
