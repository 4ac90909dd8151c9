// Package api holds the JSON types of Berth's /api/v1 and a small client for them. It is
// shared by the server and the WebAssembly UI, so it must stay free of heavy dependencies.
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
}

// Repository is one entry of the catalog.
type Repository struct {
	Name string `json:"name"`
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
}

// Tag is a tag and what it points to.
type Tag struct {
	Name      string `json:"name"`
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	// Kind is image, index, artifact or unknown.
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

// ErrorBody is the JSON body of every /api error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
