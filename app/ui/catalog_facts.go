package ui

// The catalog's filter (kind, order, search) as the page's address carries it, and the
// facts a catalog row shows. Pure functions, so the server's prerendered page and the
// browser's render the same.

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-registry/berth/app/api"
)

// choice is one option of a select: its value in the address and its label.
type choice struct{ value, label string }

// kindAll is the kind select's value for every kind. go-app leaves out an option's empty
// value attribute, and the option's text would then be its value, so "all" has a name.
const kindAll = "all"

// catalogKinds are the kind filter's options; the value is the server's ?kind=.
var catalogKinds = []choice{
	{kindAll, "All kinds"},
	{api.KindImage, "Images"},
	{api.KindChart, "Helm charts"},
	{api.KindArtifact, "Other artifacts"},
}

// sortName is the catalog's default order.
const sortName = "name"

// catalogSorts are the order select's options; the value is the server's ?sort=.
var catalogSorts = []choice{
	{sortName, "Name"},
	{"-pushed", "Last push, newest first"},
	{"-size", "Size, largest first"},
}

// catalogFilter is what the catalog shows: names containing Query, of one Kind (empty: all),
// in one Sort order (empty: by name).
type catalogFilter struct {
	Query, Kind, Sort string
}

// parseCatalogFilter reads the filter from an address's query. Kinds and orders it does
// not know are left out, so a mistyped address shows the whole catalog by name rather than
// an error.
func parseCatalogFilter(v url.Values) catalogFilter {
	f := catalogFilter{Query: v.Get("q")}
	if k := v.Get("kind"); k != kindAll && known(catalogKinds, k) {
		f.Kind = k
	}
	if s := v.Get("sort"); s != sortName && known(catalogSorts, s) {
		f.Sort = s
	}
	return f
}

func known(choices []choice, v string) bool {
	for _, c := range choices {
		if c.value == v {
			return true
		}
	}
	return false
}

// values is the filter as an address's query: only what differs from the default.
func (f catalogFilter) values() url.Values {
	v := url.Values{}
	if f.Query != "" {
		v.Set("q", f.Query)
	}
	if f.Kind != "" {
		v.Set("kind", f.Kind)
	}
	if f.Sort != "" {
		v.Set("sort", f.Sort)
	}
	return v
}

// page is the API query of the catalog's page number n under the filter.
func (f catalogFilter) page(n int) api.RepositoryQuery {
	return api.RepositoryQuery{Query: f.Query, Kind: f.Kind, Sort: f.Sort, Offset: n * catalogPageSize, Limit: catalogPageSize}
}

// kindValue and sortValue are the selects' values: their defaults have names.
func (f catalogFilter) kindValue() string { return cmp.Or(f.Kind, kindAll) }
func (f catalogFilter) sortValue() string { return cmp.Or(f.Sort, sortName) }

// catalogCount says how many repositories the filter matches: "3 Helm charts match “web”".
func catalogCount(total int, f catalogFilter) string {
	noun, verb := kindNoun(f.Kind, total), "match"
	if total == 1 {
		verb = "matches"
	}
	if f.Query != "" {
		return fmt.Sprintf("%s %s %s “%s”", thousands(total), noun, verb, f.Query)
	}
	return thousands(total) + " " + noun
}

// kindNoun names n repositories of a kind (empty: any kind).
func kindNoun(kind string, n int) string {
	one, many := "repository", "repositories"
	switch kind {
	case api.KindImage:
		one, many = "image repository", "image repositories"
	case api.KindChart:
		one, many = "Helm chart", "Helm charts"
	case api.KindArtifact:
		one, many = "artifact repository", "artifact repositories"
	}
	if n == 1 {
		return one
	}
	return many
}

// repoKindLabel names a repository's kind on its badge.
func repoKindLabel(kind string) string {
	switch kind {
	case api.KindChart:
		return "Helm chart"
	case api.KindImage:
		return "image"
	case api.KindArtifact:
		return "artifact"
	}
	return kind
}

// repoFacts is what a catalog row says of a repository, each fact empty where the server
// does not know it: a repository it has not indexed yet shows none, rather than zeros.
type repoFacts struct {
	Kind   string // the badge's text
	Tags   string // "3 tags"
	Size   string // "12.4 MB"
	Pushed string // "pushed 2 days ago"
	// PushedAt is the exact time of the last push, for the relative one's title; UTC, so that
	// the server and the browser write the same.
	PushedAt string
	Pulls    string // "5 pulls"
}

// factsOf renders what r says, relative to now.
func factsOf(r api.Repository, now time.Time) repoFacts {
	var f repoFacts
	if r.Kind != "" {
		f.Kind = repoKindLabel(r.Kind)
	}
	if r.Tags > 0 {
		f.Tags = countOf(r.Tags, "tag")
	}
	if r.Size > 0 {
		f.Size = humanSize(r.Size)
	}
	if !r.LastPush.IsZero() {
		f.Pushed = "pushed " + ago(r.LastPush, now)
		f.PushedAt = r.LastPush.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	// No pulls among the stored events does not prove none happened: only a count is said.
	if r.Pulls > 0 {
		f.Pulls = countOf(r.Pulls, "pull")
	}
	return f
}

// countOf is "1 tag", "1,234 tags".
func countOf(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return thousands(n) + " " + unit + "s"
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
