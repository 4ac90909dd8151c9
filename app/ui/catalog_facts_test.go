package ui

import (
	"net/url"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/app/client"
)

func TestCatalogFilterRoundTripsThroughTheAddress(t *testing.T) {
	for _, c := range []struct {
		query string
		want  catalogFilter
		addr  string // the filter written back
	}{
		{"", catalogFilter{}, ""},
		{"kind=chart", catalogFilter{Kind: "chart"}, "kind=chart"},
		{"q=web&kind=image&sort=-size", catalogFilter{Query: "web", Kind: "image", Sort: "-size"}, "kind=image&q=web&sort=-size"},
		// The selects' names for the defaults, and values the server would refuse, fall back
		// to the whole catalog by name.
		{"kind=all&sort=name", catalogFilter{}, ""},
		{"kind=helm&sort=pulls", catalogFilter{}, ""},
		{"sort=-pushed", catalogFilter{Sort: "-pushed"}, "sort=-pushed"},
	} {
		v, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		f := parseCatalogFilter(v)
		if f != c.want {
			t.Errorf("%q: %+v, want %+v", c.query, f, c.want)
		}
		if got := f.values().Encode(); got != c.addr {
			t.Errorf("%q written back as %q, want %q", c.query, got, c.addr)
		}
	}
	f := catalogFilter{}
	if f.kindValue() != "all" || f.sortValue() != "name" {
		t.Errorf("default select values %q %q", f.kindValue(), f.sortValue())
	}
	// Every option but the defaults is a value the server takes as it is.
	for _, c := range catalogKinds[1:] {
		if parseCatalogFilter(url.Values{"kind": {c.value}}).Kind != c.value {
			t.Errorf("kind option %q is dropped", c.value)
		}
	}
	for _, c := range catalogSorts[1:] {
		if parseCatalogFilter(url.Values{"sort": {c.value}}).Sort != c.value {
			t.Errorf("sort option %q is dropped", c.value)
		}
	}
}

func TestCatalogPageQueryIsTheSeedKey(t *testing.T) {
	// The prerendered page stores its answer under this path and app.wasm looks it up the
	// same way: the default catalog keeps the path it always had.
	if got := client.RepositoriesPath(catalogFilter{}.page(0)); got != "/api/v1/repositories?limit=200&offset=0" {
		t.Errorf("default page path %q", got)
	}
	got := client.RepositoriesPath(catalogFilter{Query: "a b", Kind: "chart", Sort: "-size"}.page(2))
	if want := "/api/v1/repositories?kind=chart&limit=200&offset=400&q=a+b&sort=-size"; got != want {
		t.Errorf("page path %q, want %q", got, want)
	}
}

func TestCatalogCount(t *testing.T) {
	for _, c := range []struct {
		total int
		f     catalogFilter
		want  string
	}{
		{0, catalogFilter{}, "0 repositories"},
		{1, catalogFilter{}, "1 repository"},
		{12345, catalogFilter{}, "12,345 repositories"},
		{3, catalogFilter{Kind: "chart"}, "3 Helm charts"},
		{1, catalogFilter{Kind: "chart", Query: "web"}, "1 Helm chart matches “web”"},
		{2, catalogFilter{Kind: "image", Query: "a"}, "2 image repositories match “a”"},
		{1, catalogFilter{Kind: "artifact"}, "1 artifact repository"},
	} {
		if got := catalogCount(c.total, c.f); got != c.want {
			t.Errorf("catalogCount(%d, %+v) = %q, want %q", c.total, c.f, got, c.want)
		}
	}
}

func TestRepositoryFacts(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	pushed := now.Add(-50 * time.Hour).In(time.FixedZone("CET", 3600))
	got := factsOf(api.Repository{Name: "charts/web", Tags: 3, LastPush: pushed, Size: 12_400_000, Pulls: 1234, Kind: "chart"}, now)
	want := repoFacts{Kind: "Helm chart", Tags: "3 tags", Size: "12.4 MB", Pushed: "pushed 2 days ago", PushedAt: "2026-03-08 10:00:00 UTC", Pulls: "1,234 pulls"}
	if got != want {
		t.Errorf("facts %+v, want %+v", got, want)
	}
	// A repository the index has not described yet says nothing, rather than "0 tags, 0 B".
	if got := factsOf(api.Repository{Name: "new/one"}, now); got != (repoFacts{}) {
		t.Errorf("unknown repository shows %+v", got)
	}
	// No pulls among the stored events is not said as "0 pulls".
	got = factsOf(api.Repository{Name: "library/alpine", Tags: 1, Size: 999, Kind: "image"}, now)
	if got.Tags != "1 tag" || got.Size != "999 B" || got.Kind != "image" || got.Pulls != "" || got.Pushed != "" {
		t.Errorf("facts %+v", got)
	}
	if got := repoKindLabel("artifact"); got != "artifact" {
		t.Errorf("artifact badge %q", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
