package store_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// searchData is generated index content and the substring search over it, in Go.
type searchData struct {
	repos  []string
	tags   map[[2]string]string         // repository, tag → digest
	labels map[string]map[string]string // digest → labels
}

func generateSearchData(seed uint64) searchData {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := []string{"payments", "checkout", "api", "web", "ml", "data_lake", "edge", "café", "gateway", "100%", "a"}
	values := []string{"Payments Team", "checkout", `say "hi"`, "100% done", "a_b", "x", "Ü-ber café", "MiXeD-Case", "ml"}
	d := searchData{tags: map[[2]string]string{}, labels: map[string]map[string]string{}}
	for i := range 40 {
		name := words[rng.IntN(len(words))] + "/" + words[rng.IntN(len(words))] + fmt.Sprint(i)
		name = strings.NewReplacer("%", "", "é", "e").Replace(name) // a repository name's grammar
		d.repos = append(d.repos, name)
		for j := range 6 {
			tag := []string{"v1.2." + fmt.Sprint(j), "latest", "Release-" + strings.ToUpper(words[j]), "sha-ABC" + fmt.Sprint(i)}[j%4]
			tag = strings.NewReplacer("%", "", "é", "e").Replace(tag)
			digest := fmt.Sprintf("sha256:%064x", i*100+j)
			d.tags[[2]string{name, tag}] = digest
			d.labels[digest] = map[string]string{"team": values[rng.IntN(len(values))], "org.opencontainers.image.title": name}
		}
	}
	return d
}

func (d searchData) fill(t *testing.T, s store.Store, at time.Time) {
	t.Helper()
	ctx := t.Context()
	if err := s.PutRepositories(ctx, d.repos, at); err != nil {
		t.Fatal(err)
	}
	var rows []store.IndexTag
	byRepo := map[string][]store.IndexManifest{}
	for k, digest := range d.tags {
		rows = append(rows, store.IndexTag{Repository: k[0], Tag: k[1], Digest: digest, Checked: at, Pushed: at})
		byRepo[k[0]] = append(byRepo[k[0]], store.IndexManifest{Digest: digest, Kind: "image", Labels: d.labels[digest]})
	}
	if err := s.PutTags(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for repo, ms := range byRepo {
		if err := s.PutManifests(ctx, repo, ms); err != nil {
			t.Fatal(err)
		}
	}
}

// search answers q as the substring scan does: names (repositories, then tags) or a label.
func (d searchData) search(q string) []store.SearchHit {
	var out []store.SearchHit
	if name, value, ok := strings.Cut(q, "="); ok {
		for k, digest := range d.tags {
			if v, has := d.labels[digest][name]; has && strings.Contains(asciiLower(v), strings.ToLower(value)) {
				out = append(out, store.SearchHit{Repository: k[0], Tag: k[1], Digest: digest, Kind: "image", Match: "label", Label: name + "=" + v})
			}
		}
		return out
	}
	lower := strings.ToLower(q)
	for _, r := range d.repos {
		if strings.Contains(r, lower) {
			out = append(out, store.SearchHit{Repository: r, Match: "repository"})
		}
	}
	for k, digest := range d.tags {
		if strings.Contains(asciiLower(k[1]), lower) {
			out = append(out, store.SearchHit{Repository: k[0], Tag: k[1], Digest: digest, Kind: "image", Match: "tag"})
		}
	}
	return out
}

// asciiLower lowercases as SQLite's LOWER does: ASCII letters only.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func sortHits(h []store.SearchHit) []store.SearchHit {
	slices.SortFunc(h, func(a, b store.SearchHit) int {
		return cmp.Or(strings.Compare(a.Match, b.Match), strings.Compare(a.Repository, b.Repository), strings.Compare(a.Tag, b.Tag), strings.Compare(a.Label, b.Label))
	})
	return h
}

// TestTrigramSearchMatchesTheScan: name and label search through the trigram indexes give
// exactly the substring scan's hits on generated data (short queries, wildcards, quotes,
// ASCII case), before and after rows are deleted and dropped — on SQLite and PostgreSQL.
// (Non-ASCII case differs between the databases as it did before: PostgreSQL's LOWER folds
// it, SQLite's does not.)
func TestTrigramSearchMatchesTheScan(t *testing.T) {
	onBoth(t, func(t *testing.T, s store.Store) {
		d := generateSearchData(7)
		at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		d.fill(t, s, at)
		queries := []string{"a", "pa", "pay", "PAYMENTS", "ments/che", "api", "lat", "release-CH", "sha-abc1", "v1.2.3",
			"100", "data_l", "ta_", "%", "nothing-here", "gateway/edge", "café", "cafe",
			"team=pay", "team=PAYMENTS team", "team=100%", "team=a_b", `team=say "h`, "team=mixed-case", "team=x", "team=ml",
			"org.opencontainers.image.title=checkout/", "org.opencontainers.image.title=ml", "pay\x00ments", "te\x00am=x"}
		check := func(when string) {
			t.Helper()
			for _, q := range queries {
				got, err := s.Search(t.Context(), q, store.MaxSearch)
				if err != nil {
					t.Fatalf("%s: search %q: %v", when, q, err)
				}
				want := d.search(q)
				if len(want) >= store.MaxSearch {
					t.Fatalf("query %q hits %d: more than one search answers", q, len(want))
				}
				if g, w := sortHits(got), sortHits(want); !slices.Equal(g, w) {
					t.Errorf("%s: search %q: %d hits, the scan gives %d\n got  %v\n want %v", when, q, len(g), len(w), g, w)
				}
				if !strings.Contains(q, "=") {
					checkCatalogFilter(t, s, d, when, q)
				}
			}
		}
		check("filled")
		// Every tag hit counted as dense: the tags are walked in order instead.
		store.SetDenseTagRows(t, 1)
		check("filled, tags walked in order")
		store.SetDenseTagRows(t, 1<<30)
		check("filled, tags read by name")
		// Matching terms joined rather than named one by one.
		store.SetMaxTerms(t, 0)
		check("filled, terms joined")
		store.SetMaxTerms(t, 500)

		// Triggers keep the trigram tables in step: deleted, re-pointed and dropped rows.
		ctx := t.Context()
		var gone []string
		for k := range d.tags {
			if k[0] == d.repos[0] {
				gone = append(gone, k[1])
				delete(d.tags, k)
			}
		}
		if err := s.DeleteTags(ctx, d.repos[0], gone); err != nil {
			t.Fatal(err)
		}
		later := at.Add(time.Hour)
		if err := s.PutRepositories(ctx, d.repos[2:], later); err != nil {
			t.Fatal(err)
		}
		if err := s.DropRepositories(ctx, later); err != nil { // drops repos[0] and repos[1], with their tags
			t.Fatal(err)
		}
		for k := range d.tags {
			if k[0] == d.repos[1] {
				delete(d.tags, k)
			}
		}
		d.repos = d.repos[2:]
		check("after deletes")
	})
}

// checkCatalogFilter: a catalog page filtered by q lists, and counts, exactly the listed
// repositories whose names contain q, in name order.
func checkCatalogFilter(t *testing.T, s store.Store, d searchData, when, q string) {
	t.Helper()
	rows, total, err := s.IndexRepositories(t.Context(), store.RepositoryQuery{Query: q, Sort: store.SortName, Limit: 1000})
	if err != nil {
		t.Fatalf("%s: catalog filtered by %q: %v", when, q, err)
	}
	var got, want []string
	for _, r := range rows {
		got = append(got, r.Name)
	}
	for _, r := range d.repos {
		if strings.Contains(r, strings.ToLower(q)) {
			want = append(want, r)
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) || total != len(want) {
		t.Errorf("%s: catalog filtered by %q: %d of %d %v, the scan gives %v", when, q, len(got), total, got, want)
	}
}
