package site

import (
	"net/http"
	"slices"
)

// table is a ServeMux that remembers the patterns mounted on it: what Berth serves can be
// listed, so a test holds every route to an authorization row and a new route without one
// fails.
type table struct {
	*http.ServeMux
	patterns []string
}

// Handle mounts h at pattern and remembers the pattern.
func (t *table) Handle(pattern string, h http.Handler) {
	t.ServeMux.Handle(pattern, h)
	t.patterns = append(t.patterns, pattern)
}

// Root is Berth's root handler, with the patterns of its route table.
type Root struct {
	http.Handler
	patterns []string
}

// Patterns are the patterns mounted on the route table, sorted.
func (r *Root) Patterns() []string {
	out := slices.Clone(r.patterns)
	slices.Sort(out)
	return out
}
