// Package api is the wire contract of Berth's /api/v1: its JSON types, its error codes, and
// small helpers both sides need (durations, references, sizes). The server and the
// WebAssembly UI share it, so it must stay free of heavy dependencies; the browser's client
// for it lives in app/client.
package api

import "time"

// RepositoryPage is one page of the catalog, filtered by Query.
type RepositoryPage struct {
	Repositories []Repository `json:"repositories"`
	// Total counts the repositories matching Query, not just this page.
	Total  int    `json:"total"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	Query  string `json:"query,omitempty"`
	// Updated is when the server last read the registry's catalog.
	Updated time.Time `json:"updated"`
	// Sort is the order asked for: name (default), pushed or size, "-" first for descending.
	Sort string `json:"sort,omitempty"`
	// Partial is set while the server still reads the registry's catalog for the first time:
	// Total counts what arrived so far.
	Partial bool `json:"partial,omitempty"`
	// CatalogRefused is set when the registry refuses its catalog (/v2/_catalog) to the
	// caller: the list is what Berth knows of, pushed, notified, visited or configured, and
	// may be incomplete; any other repository opens by name.
	CatalogRefused bool `json:"catalogRefused,omitempty"`
	// Seeding is set while Berth pushes its demo content into a new embedded registry: the
	// list is not complete yet.
	Seeding bool `json:"seeding,omitempty"`
	// Indexing is set while Berth fills its index for the first time (a registry it has
	// never seen): rows and their counts are what arrived so far, and Partial is set too.
	Indexing *IndexProgress `json:"indexing,omitempty"`
}

// RepositoryQuery selects a page of the catalog, as GET /api/v1/repositories?q=&sort=&kind=
// takes it.
type RepositoryQuery struct {
	// Query keeps names containing it.
	Query string
	// Sort is name (default), pushed or size, "-" first for descending.
	Sort string
	// Kind keeps the repositories holding mainly images, charts or other artifacts: image,
	// chart or artifact; empty for all.
	Kind   string
	Offset int
	Limit  int
}

// Repository kinds, as Repository.Kind and RepositoryQuery.Kind name them.
const (
	KindImage    = "image"
	KindChart    = "chart"
	KindArtifact = "artifact"
)

// Repository is one entry of the catalog. The fields after Name come from the server's
// metadata index and are zero for what it has not indexed yet.
type Repository struct {
	Name string `json:"name"`
	// Tags counts the repository's tags.
	Tags int `json:"tags,omitempty"`
	// LastPush is the newest push of a tag Berth knows of.
	LastPush time.Time `json:"lastPush,omitzero"`
	// Size sums the compressed sizes of the manifests its tags point to, each once.
	Size int64 `json:"size,omitempty"`
	// Pulls counts manifest pulls among the stored events.
	Pulls int `json:"pulls,omitempty"`
	// Kind is image, chart or artifact: what the repository holds.
	Kind string `json:"kind,omitempty"`
	// Severity is the worst finding of Berth's scans of its tagged images: critical, high,
	// medium, low, unknown, or none (scanned, nothing found); "" when none is scanned.
	Severity string `json:"severity,omitempty"`
}

// TagPage is one page of a repository's tags, with their details.
type TagPage struct {
	Repository string `json:"repository"`
	Tags       []Tag  `json:"tags"`
	Total      int    `json:"total"`
	Offset     int    `json:"offset"`
	Limit      int    `json:"limit"`
	// PullHost is the registry host to use in pull commands.
	PullHost string `json:"pullHost"`
	// Indexing is set while Berth fills its index for the first time (a registry it has
	// never seen): the tags are the registry's word, but their details come from the
	// registry on the spot until the walk reaches them, and the page reads the list again
	// until the walk ends.
	Indexing *IndexProgress `json:"indexing,omitempty"`
	// Changes is a token of the repository's changes as the answering replica knows them:
	// GET …/changes?since= waits with it for the next one (see RepositoryChanges).
	Changes string `json:"changes,omitempty"`
}

// RepositoryChanges answers a wait for a change of a repository's tags: Changed when they
// changed since the token given (read them again), with the token to wait with next.
type RepositoryChanges struct {
	Repository string `json:"repository"`
	Changes    string `json:"changes"`
	Changed    bool   `json:"changed"`
}

// Tag is a tag and what it points to.
type Tag struct {
	Name      string `json:"name"`
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	// Kind is image, index, artifact, schema1, or referrer for a tag named after another
	// manifest's digest (cosign signatures, the OCI referrers fallback index).
	Kind string `json:"kind,omitempty"`
	// Size is the compressed size: config plus layers, summed over platforms for an index.
	Size int64 `json:"size"`
	// Created is the newest image creation time; zero when no config says.
	Created   time.Time  `json:"created,omitzero"`
	Platforms []Platform `json:"platforms,omitempty"`
	// Attestations counts attestation manifests (buildx provenance, SBOM) in an index.
	Attestations int `json:"attestations,omitempty"`
	// ArtifactType is set for OCI artifacts (signatures, SBOMs, Helm charts …).
	ArtifactType string `json:"artifactType,omitempty"`
	// Error says why details could not be read; the other fields may be partial.
	Error string `json:"error,omitempty"`
	// Pushed is when the tag last moved to its digest, as far as the server knows.
	Pushed time.Time `json:"pushed,omitzero"`
	// Referrers counts the manifests (signatures, SBOMs …) that refer to the digest.
	Referrers int `json:"referrers,omitempty"`
	// Severity is the worst finding of Berth's scan of the digest (critical … unknown, none
	// when it found nothing); "" when not scanned against a database. FixableCritical counts
	// its critical findings with a fixed version. Both come from the index.
	Severity        string `json:"severity,omitempty"`
	FixableCritical int    `json:"fixableCritical,omitempty"`
}

// Platform is one image of an index, or the single image of a plain manifest.
type Platform struct {
	OS           string    `json:"os"`
	Architecture string    `json:"architecture"`
	Variant      string    `json:"variant,omitempty"`
	Digest       string    `json:"digest"`
	Size         int64     `json:"size"`
	Created      time.Time `json:"created,omitzero"`
}

// String renders the platform the way docker does: linux/arm/v7.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Manifest is everything Berth shows about one manifest: an image, an index or an artifact.
type Manifest struct {
	Repository string `json:"repository"`
	// Reference is the tag or digest the manifest was asked for by.
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Kind is image, index, artifact or schema1.
	Kind string `json:"kind"`
	// Size is the compressed size: config plus layers, summed over platforms for an index.
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Subject      *Descriptor       `json:"subject,omitempty"`
	// Platforms lists an index's images; Attestations its buildx attestation manifests.
	Platforms    []Platform   `json:"platforms,omitempty"`
	Attestations []Descriptor `json:"attestations,omitempty"`
	// Image is set for image manifests.
	Image *Image `json:"image,omitempty"`
	// Layers of an artifact (for an image they are in Image).
	Blobs     []Descriptor `json:"blobs,omitempty"`
	Referrers []Referrer   `json:"referrers"`
	// ReferrersError says why referrers could not be listed.
	ReferrersError string `json:"referrersError,omitempty"`
	// Raw is the manifest exactly as the registry serves it.
	Raw string `json:"raw"`
	// Note explains anything unusual, e.g. a legacy schema 1 manifest.
	Note     string `json:"note,omitempty"`
	PullHost string `json:"pullHost"`
}

// Descriptor points at a blob or manifest.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
}

// Image is an image manifest's config, layers and history.
type Image struct {
	ConfigDigest    string       `json:"configDigest"`
	ConfigMediaType string       `json:"configMediaType"`
	ConfigSize      int64        `json:"configSize"`
	Config          ImageConfig  `json:"config"`
	Layers          []Descriptor `json:"layers"`
	History         []History    `json:"history"`
	// RawConfig is the config blob exactly as stored.
	RawConfig string `json:"rawConfig"`
}

// ImageConfig is the part of an image config people read.
type ImageConfig struct {
	OS           string            `json:"os"`
	Architecture string            `json:"architecture"`
	Variant      string            `json:"variant,omitempty"`
	Created      time.Time         `json:"created,omitzero"`
	Author       string            `json:"author,omitempty"`
	User         string            `json:"user,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Volumes      []string          `json:"volumes,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	StopSignal   string            `json:"stopSignal,omitempty"`
}

// History is one step of an image's build.
type History struct {
	Created    time.Time `json:"created,omitzero"`
	CreatedBy  string    `json:"createdBy,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"emptyLayer,omitempty"`
	// Layer is the index into Layers of the layer this step made, or -1 for an empty step.
	Layer int `json:"layer"`
}

// Referrer is a manifest whose subject is another one: a signature, SBOM or attestation.
type Referrer struct {
	Digest       string            `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Created      time.Time         `json:"created,omitzero"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Tag is set for referrers found by cosign-style tags (sha256-<hex>.sig).
	Tag string `json:"tag,omitempty"`
}

// Session says who is signed in (User is empty when nobody is) and what the UI may offer
// them: the account pages with access control, the administrators' pages, the OpenID
// Connect button, and the other registries copies may go to (--remote-registries).
type Session struct {
	User             string   `json:"user"`
	Admin            bool     `json:"admin,omitempty"`
	AccessControl    bool     `json:"accessControl,omitempty"`
	OIDC             bool     `json:"oidc,omitempty"`
	RemoteRegistries []string `json:"remoteRegistries,omitempty"`
}

// SignIn is the body of POST /api/v1/session.
type SignIn struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Usage is what a repository stores, counting blobs shared between tags once.
type Usage struct {
	Repository string `json:"repository"`
	Tags       int    `json:"tags"`
	// Stored is the bytes of every distinct blob and manifest the tags reach.
	Stored int64 `json:"stored"`
	// Listed is the sum of the tags' sizes, counting shared layers again for each tag.
	Listed int64 `json:"listed"`
	// Delete and Frees answer "what would deleting this manifest free": the bytes that no
	// other tag of the repository reaches (freed once the registry's garbage collection runs).
	Delete string `json:"delete,omitempty"`
	Frees  int64  `json:"frees"`
}

// Sources of an untagged-manifest list.
const (
	// UntaggedComplete: the registry's storage listed every manifest of the repository.
	UntaggedComplete = "complete"
	// UntaggedSeen: the registry cannot list manifests; these are the digests Berth saw
	// pushed or read, each confirmed to exist still.
	UntaggedSeen = "seen"
)

// UntaggedPage is the answer of GET /api/v1/repositories/{name}/untagged: the manifests of a
// repository no tag points to, that are neither part of a tagged index nor a referrer
// (signature, SBOM, attestation) of something still there.
type UntaggedPage struct {
	Repository string `json:"repository"`
	// Source is UntaggedComplete or UntaggedSeen.
	Source    string             `json:"source"`
	Manifests []UntaggedManifest `json:"manifests"`
	// More is set when there were more than the listed ones (the list is bounded).
	More bool `json:"more,omitempty"`
	// Withheld counts untagged manifests left out because something may still refer to them:
	// an index Berth could not rule out (the registry cannot list its manifests, or the scan
	// stopped at its bound), or a subject whose presence could not be confirmed.
	Withheld int `json:"withheld,omitempty"`
}

// UntaggedManifest is one untagged manifest.
type UntaggedManifest struct {
	Digest       string    `json:"digest"`
	MediaType    string    `json:"mediaType,omitempty"`
	Kind         string    `json:"kind,omitempty"`
	ArtifactType string    `json:"artifactType,omitempty"`
	Size         int64     `json:"size"`
	Created      time.Time `json:"created,omitzero"`
	// Error says why details are missing.
	Error string `json:"error,omitempty"`
}
