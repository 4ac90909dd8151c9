package ui

import (
	"testing"

	"github.com/berth-registry/berth/app/api"
)

func TestGlobalQuery(t *testing.T) {
	for q, want := range map[string]bool{
		"sha256:ab12":                     true,
		" label:org.opencontainers.image": true,
		"maintainer=team":                 true,
		"library/alpine":                  false,
		"sha":                             false,
		"":                                false,
	} {
		if got := globalQuery(q); got != want {
			t.Errorf("globalQuery(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestSearchCount(t *testing.T) {
	one := api.SearchPage{Results: make([]api.SearchResult, 1)}
	some := api.SearchPage{Results: make([]api.SearchResult, 7)}
	capped := api.SearchPage{Results: make([]api.SearchResult, 7), Incomplete: true}
	full := api.SearchPage{Results: make([]api.SearchResult, searchLimit)}
	for _, c := range []struct {
		p    api.SearchPage
		want string
	}{{one, "1 tag"}, {some, "7 tags"}, {capped, "7 tags (first ones)"}, {full, "100 tags (first ones)"}} {
		if got := searchCount(c.p); got != c.want {
			t.Errorf("searchCount(%d results, incomplete %v) = %q, want %q", len(c.p.Results), c.p.Incomplete, got, c.want)
		}
	}
}
