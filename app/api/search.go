package api

// SearchPage is the answer of GET /api/v1/search?q=: tags (and repositories) across the
// registry, only from repositories the caller may read.
type SearchPage struct {
	Query   string         `json:"query"`
	Results []SearchResult `json:"results"`
	// Incomplete says the hits spread over more repositories than one search checks access
	// to; narrow the query to see the rest.
	Incomplete bool `json:"incomplete,omitempty"`
}

// SearchResult is one hit of a global search.
type SearchResult struct {
	Repository string `json:"repository"`
	// Tag is empty when the repository itself matched by name.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	Kind   string `json:"kind,omitempty"`
	// Match says what matched: repository, tag, digest or label.
	Match string `json:"match"`
	// Label is the matching label as name=value.
	Label string `json:"label,omitempty"`
	// Registry names the registry endpoint of the hit; empty for the main registry.
	Registry string `json:"registry,omitempty"`
}
