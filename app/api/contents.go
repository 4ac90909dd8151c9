package api

import "time"

// The JSON types of "Look inside" (/api/v1/contents/… and /api/v1/diff): layer files, the
// merged filesystem, image diffs, supply-chain documents and the Dockerfile view.

// Types of FileEntry.
const (
	FileRegular  = "file"
	FileDir      = "dir"
	FileSymlink  = "symlink"
	FileHardlink = "hardlink"
	FileChar     = "char"
	FileBlock    = "block"
	FileFifo     = "fifo"
	// FileWhiteout is a `.wh.NAME` entry: Path (without the prefix) is deleted from lower layers.
	FileWhiteout = "whiteout"
	// FileOpaque is a `.wh..wh..opq` entry: Path is a directory whose lower-layer contents are
	// hidden.
	FileOpaque = "opaque"
)

// FileEntry is one entry of a layer's tar, or of an image's merged filesystem.
type FileEntry struct {
	// Path is absolute and clean: /etc/os-release.
	Path string `json:"path"`
	Type string `json:"type"`
	Size int64  `json:"size,omitempty"`
	// Mode holds the permission bits with setuid, setgid and sticky (07777).
	Mode    int64     `json:"mode"`
	UID     int       `json:"uid,omitempty"`
	GID     int       `json:"gid,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	// Link is a symlink's target, or the path a hard link points to.
	Link string `json:"link,omitempty"`
	// Layer is the index of the layer that (last) wrote the entry, 0 being the base.
	Layer int `json:"layer"`
	// Children counts a directory's entries in a tree listing.
	Children int `json:"children,omitempty"`
}

// LayerInfo is one layer of an image and what Berth knows of its files.
type LayerInfo struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Indexed says the layer's file index is stored; Entries and Files count it.
	Indexed bool `json:"indexed"`
	Entries int  `json:"entries,omitempty"`
	Files   int  `json:"files,omitempty"`
}

// BuildStep is one history entry of an image config, as a Dockerfile line.
type BuildStep struct {
	// Instruction is the cleaned command: RUN apk add …, COPY …, ENV A=b.
	Instruction string    `json:"instruction"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	Created     time.Time `json:"created,omitzero"`
	Comment     string    `json:"comment,omitempty"`
	// Layer is the index of the layer the step made, or -1 for a step without one.
	Layer  int    `json:"layer"`
	Digest string `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Files counts the layer's regular files when its index is stored, else -1.
	Files int `json:"files"`
}

// ImageContents describes one image (one platform of an index) for the file browser.
type ImageContents struct {
	Repository string `json:"repository"`
	Reference  string `json:"reference"`
	// Digest is the image manifest's; IndexDigest the index's when Reference named one.
	Digest      string      `json:"digest"`
	IndexDigest string      `json:"indexDigest,omitempty"`
	Platform    string      `json:"platform,omitempty"`
	Platforms   []string    `json:"platforms,omitempty"`
	Config      ImageConfig `json:"config"`
	Layers      []LayerInfo `json:"layers"`
	Steps       []BuildStep `json:"steps"`
	// Size is the compressed size of config and layers.
	Size int64 `json:"size"`
}

// LayerFiles is a page of one layer's entries, whiteouts and opaque markers included.
type LayerFiles struct {
	Layer   LayerInfo   `json:"layer"`
	Query   string      `json:"query,omitempty"`
	Entries []FileEntry `json:"entries"`
	// Total counts the entries matching Query.
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// Truncated says the layer had more entries than Berth indexes; Skipped counts entries
	// left out (over the limit, or with a path over the length limit).
	Truncated bool `json:"truncated,omitempty"`
	Skipped   int  `json:"skipped,omitempty"`
}

// IndexEvent is one line of an indexing progress stream (application/x-ndjson).
type IndexEvent struct {
	// Type is progress (Read of Size compressed bytes of a layer), layer (one layer indexed),
	// done (every layer indexed) or error (last).
	Type    string `json:"type"`
	Layer   int    `json:"layer"`
	Digest  string `json:"digest,omitempty"`
	Read    int64  `json:"read,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Entries int    `json:"entries,omitempty"`
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Tree is a directory of an image's merged filesystem, or the entries matching a search.
type Tree struct {
	Path    string      `json:"path"`
	Query   string      `json:"query,omitempty"`
	Entries []FileEntry `json:"entries"`
	// Total counts matches (or the directory's entries); Truncated says Entries holds fewer.
	Total     int  `json:"total"`
	Truncated bool `json:"truncated,omitempty"`
}

// FileContent is a file opened for reading as text.
type FileContent struct {
	Path string `json:"path"`
	// Resolved is the file read after following symlinks (and hard links).
	Resolved string    `json:"resolved"`
	Entry    FileEntry `json:"entry"`
	// Binary says the content is not text, and Text is empty; Truncated says Text holds only
	// the first bytes, up to the limit.
	Binary    bool   `json:"binary,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	Text      string `json:"text"`
}

// DiffSide is one of the two images of a diff.
type DiffSide struct {
	Repository string `json:"repository"`
	Reference  string `json:"reference"`
	Digest     string `json:"digest"`
	Platform   string `json:"platform,omitempty"`
	Size       int64  `json:"size"`
	// Files and FilesSize are the merged filesystem's regular files and their bytes.
	Files     int   `json:"files"`
	FilesSize int64 `json:"filesSize"`
}

// ConfigChange is one config value that differs; From or To is empty when absent.
type ConfigChange struct {
	// Field is env, entrypoint, cmd, user, workingDir, ports, volumes or labels; Key the
	// variable, port or label name where there is one.
	Field string `json:"field"`
	Key   string `json:"key,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// FileChange is a path in both images whose type, size, mode, owner, time or target changed.
type FileChange struct {
	Path      string    `json:"path"`
	From      FileEntry `json:"from"`
	To        FileEntry `json:"to"`
	SizeDelta int64     `json:"sizeDelta"`
}

// ImageDiff compares two images.
type ImageDiff struct {
	From   DiffSide       `json:"from"`
	To     DiffSide       `json:"to"`
	Config []ConfigChange `json:"config"`
	// Layers by digest: in both, only in To, only in From.
	SharedLayers  []LayerInfo  `json:"sharedLayers"`
	AddedLayers   []LayerInfo  `json:"addedLayers"`
	RemovedLayers []LayerInfo  `json:"removedLayers"`
	Added         []FileEntry  `json:"added"`
	Removed       []FileEntry  `json:"removed"`
	Changed       []FileChange `json:"changed"`
	// Counts before the lists were capped; Truncated says a list holds fewer.
	AddedCount   int  `json:"addedCount"`
	RemovedCount int  `json:"removedCount"`
	ChangedCount int  `json:"changedCount"`
	Truncated    bool `json:"truncated,omitempty"`
	// SizeDelta is To minus From, compressed; FilesSizeDelta the same for file bytes.
	SizeDelta      int64 `json:"sizeDelta"`
	FilesSizeDelta int64 `json:"filesSizeDelta"`
}

// Severities counts vulnerability findings by severity.
type Severities struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Unknown  int `json:"unknown"`
	// Reports counts the vulnerability reports found; 0 means "not scanned", not "clean".
	Reports int `json:"reports"`
}

// Total is the number of findings.
func (s Severities) Total() int { return s.Critical + s.High + s.Medium + s.Low + s.Unknown }

// SupplyDocument is one SBOM, vulnerability report, signature or attestation found for an image.
type SupplyDocument struct {
	// Digest is the manifest holding the document (a referrer or a cosign tag's manifest).
	Digest string `json:"digest"`
	// Kind is sbom, vulnerabilities, signature or other; Format names the document format
	// and version (SPDX-2.3, CycloneDX 1.5, SARIF 2.1.0, Trivy, cosign).
	Kind         string    `json:"kind"`
	Format       string    `json:"format,omitempty"`
	ArtifactType string    `json:"artifactType,omitempty"`
	MediaType    string    `json:"mediaType,omitempty"`
	Tag          string    `json:"tag,omitempty"`
	Created      time.Time `json:"created,omitzero"`
	// Attestation says the document came inside an in-toto DSSE envelope.
	Attestation bool `json:"attestation,omitempty"`
	Packages    int  `json:"packages,omitempty"`
	Findings    int  `json:"findings,omitempty"`
	// Error says why the document was rejected (too large, malformed).
	Error string `json:"error,omitempty"`
}

// Package is one package an SBOM lists.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Type is the package ecosystem (apk, deb, npm, golang …) or the SBOM's component type.
	Type    string `json:"type,omitempty"`
	License string `json:"license,omitempty"`
	PURL    string `json:"purl,omitempty"`
}

// Finding is one vulnerability a report lists.
type Finding struct {
	ID string `json:"id"`
	// Severity is critical, high, medium, low or unknown.
	Severity     string `json:"severity"`
	Package      string `json:"package,omitempty"`
	Version      string `json:"version,omitempty"`
	FixedVersion string `json:"fixedVersion,omitempty"`
	Title        string `json:"title,omitempty"`
	// URL is the advisory's page, where known.
	URL string `json:"url,omitempty"`
	// Source says which report lists it: "Berth scan", or "attached (Trivy)" for a report
	// someone attached to the image (ReportSource).
	Source string `json:"source,omitempty"`
}

// Signature is one signature of an image, with who signed it where the signature says.
type Signature struct {
	Digest string `json:"digest"`
	// Kind is cosign or dsse (an attestation's envelope signature).
	Kind string `json:"kind"`
	// Identity is the certificate's subject alternative name (email, URI); Issuer the OIDC
	// issuer Fulcio recorded; KeyID the key id a DSSE signature carries.
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	KeyID    string `json:"keyId,omitempty"`
	// Subject is the image digest the signed payload names.
	Subject string `json:"subject,omitempty"`
	Note    string `json:"note,omitempty"`
}

// SupplyChain is what referrers and cosign tags say about an image.
type SupplyChain struct {
	Repository string           `json:"repository"`
	Reference  string           `json:"reference"`
	Digest     string           `json:"digest"`
	Documents  []SupplyDocument `json:"documents"`
	Packages   []Package        `json:"packages"`
	Findings   []Finding        `json:"findings"`
	Severities Severities       `json:"severities"`
	Signatures []Signature      `json:"signatures"`
	// Truncated says a list was capped.
	Truncated bool `json:"truncated,omitempty"`
}

// SeverityBatch answers severity counts for several manifests of one repository at once.
type SeverityBatch struct {
	Repository string                `json:"repository"`
	Severities map[string]Severities `json:"severities"`
	// Errors holds, per digest, why it could not be read.
	Errors map[string]string `json:"errors,omitempty"`
}
