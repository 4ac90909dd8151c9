package api

import "time"

// IndexProgress is how far the walk filling Berth's index has come (GET /api/v1/index, and
// RepositoryPage.Indexing while one runs). A first walk of a registry Berth has never seen
// takes a while; until it ends, counts and rows are what arrived so far.
type IndexProgress struct {
	// Running is set while a walk runs.
	Running bool `json:"running"`
	// First is set while no walk has ended yet: the index is still being filled for the
	// first time, so counts and rows are partial.
	First bool `json:"first,omitempty"`
	// Phase is "catalog" (listing repositories), "tags" (reading each repository's tags) or
	// "details" (describing the manifests tags point to); empty when idle.
	Phase string `json:"phase,omitempty"`
	// Repositories is how many the catalog lists; RepositoriesDone how many have their tags
	// read and indexed.
	Repositories     int `json:"repositories"`
	RepositoriesDone int `json:"repositoriesDone"`
	// Tags counts the tags listed so far; TagsDone those whose digest is indexed.
	Tags     int `json:"tags"`
	TagsDone int `json:"tagsDone"`
	// Manifests counts the manifests described in the details phase.
	Manifests int `json:"manifests"`
	// Started is when the walk began; Updated when this was last written; Finished when
	// the last walk ended (zero before the first one did).
	Started  time.Time `json:"started,omitzero"`
	Updated  time.Time `json:"updated,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}
