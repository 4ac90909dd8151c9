package store_test

import (
	"cmp"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/store"
)

// summaryModel is the test's own account of what the catalog should list: which repositories
// index_repositories holds (and when each was last seen) and the counted pulls. Tag rows and
// manifests are read back through IndexTags, so the expected catalog rows are computed in Go
// independently of the store's aggregates.
type summaryModel struct {
	seen  map[string]time.Time
	pulls map[string]int
}

func (m *summaryModel) see(at time.Time, names ...string) {
	for _, n := range names {
		if at.After(m.seen[n]) {
			m.seen[n] = at
		}
	}
}

// expected computes every listed repository's row from its tags as IndexTags returns them.
func (m *summaryModel) expected(t *testing.T, s store.Store) []store.RepositorySummary {
	t.Helper()
	var out []store.RepositorySummary
	for name := range m.seen {
		tags, err := s.IndexTags(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		r := store.RepositorySummary{Name: name, Pulls: m.pulls[name]}
		for _, tag := range tags {
			if !api.IsReferrerTag(tag.Tag) {
				r.Tags++ // referrer tags belong to their image: not counted (api.CountTags)
			}
		}
		sized := map[string]bool{}
		rank := 0
		for _, tag := range tags {
			if tag.Pushed.After(r.LastPush) {
				r.LastPush = tag.Pushed
			}
			mf := tag.Manifest
			if mf == nil {
				continue
			}
			if !sized[tag.Digest] {
				sized[tag.Digest] = true
				r.Size += mf.Size
			}
			switch {
			case strings.Contains(mf.ArtifactType, "helm"):
				rank = max(rank, 3)
			case mf.Kind == "image" || mf.Kind == "index":
				rank = max(rank, 2)
			case mf.Kind != "":
				rank = max(rank, 1)
			}
		}
		r.Kind = []string{"", "artifact", "image", "chart"}[rank]
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.RepositorySummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// page answers q from all the way IndexRepositories is documented to.
func page(all []store.RepositorySummary, q store.RepositoryQuery) ([]store.RepositorySummary, int) {
	var rows []store.RepositorySummary
	for _, r := range all {
		if strings.Contains(r.Name, strings.ToLower(q.Query)) && (q.Kind == "" || r.Kind == q.Kind) {
			rows = append(rows, r)
		}
	}
	desc := strings.HasPrefix(q.Sort, "-")
	dir := func(c int) int {
		if desc {
			return -c
		}
		return c
	}
	slices.SortStableFunc(rows, func(a, b store.RepositorySummary) int {
		switch strings.TrimPrefix(q.Sort, "-") {
		case store.SortPushed:
			return cmp.Or(dir(a.LastPush.Compare(b.LastPush)), strings.Compare(a.Name, b.Name))
		case store.SortSize:
			return cmp.Or(dir(cmp.Compare(a.Size, b.Size)), strings.Compare(a.Name, b.Name))
		}
		return dir(strings.Compare(a.Name, b.Name))
	})
	total := len(rows)
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows = rows[min(q.Offset, len(rows)):]
	return rows[:min(limit, len(rows))], total
}

func sameRow(a, b store.RepositorySummary) bool {
	return a.Name == b.Name && a.Tags == b.Tags && a.LastPush.Equal(b.LastPush) && a.Size == b.Size && a.Pulls == b.Pulls && a.Kind == b.Kind
}

func rowString(rs []store.RepositorySummary) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s(tags %d, pushed %s, size %d, pulls %d, %s)", r.Name, r.Tags, r.LastPush.Format(time.TimeOnly), r.Size, r.Pulls, r.Kind))
	}
	return strings.Join(parts, " ")
}

// checkCatalog compares every sort × kind × name filter × page of IndexRepositories, and
// RepositorySummaries, with the rows computed from the tags; it returns the expected rows.
func (m *summaryModel) checkCatalog(t *testing.T, s store.Store, step string) map[string]store.RepositorySummary {
	t.Helper()
	ctx := t.Context()
	all := m.expected(t, s)
	for _, sort := range []string{"", "name", "-name", "pushed", "-pushed", "size", "-size", "other"} {
		for _, kind := range []string{"", "image", "chart", "artifact"} {
			for _, query := range []string{"", "a", "/s", "zz"} {
				for _, lim := range [][2]int{{0, 0}, {1, 2}, {3, 100}} {
					q := store.RepositoryQuery{Query: query, Sort: sort, Kind: kind, Offset: lim[0], Limit: lim[1]}
					got, total, err := s.IndexRepositories(ctx, q)
					if err != nil {
						t.Fatalf("%s: %+v: %v", step, q, err)
					}
					want, wantTotal := page(all, q)
					if total != wantTotal || !slices.EqualFunc(got, want, sameRow) {
						t.Fatalf("%s: %+v:\n got %d: %s\nwant %d: %s", step, q, total, rowString(got), wantTotal, rowString(want))
					}
				}
			}
		}
	}
	var names []string
	byName := map[string]store.RepositorySummary{}
	for _, r := range all {
		names = append(names, r.Name)
		byName[r.Name] = r
	}
	got, err := s.RepositorySummaries(ctx, append(names, "not/listed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("%s: RepositorySummaries: %d rows, want %d", step, len(got), len(all))
	}
	for _, r := range all {
		if !sameRow(got[r.Name], r) {
			t.Fatalf("%s: RepositorySummaries[%s] = %s, want %s", step, r.Name, rowString([]store.RepositorySummary{got[r.Name]}), rowString([]store.RepositorySummary{r}))
		}
	}
	return byName
}

// summaryContract runs a mix of index writes and checks after each that the catalog's
// rows, kept per repository on writes, answer exactly what aggregating the tags gives; then
// that the migration's backfill gives the same rows.
func summaryContract(t *testing.T, dsn string) {
	ctx := t.Context()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	m := &summaryModel{seen: map[string]time.Time{}, pulls: map[string]int{}}
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	tag := func(repo, tag, digest string, checked, pushed int) store.IndexTag {
		return store.IndexTag{Repository: repo, Tag: tag, Digest: digest, Checked: at(checked), Pushed: at(pushed)}
	}

	must(s.PutRepositories(ctx, []string{"alpha/app", "bravo/svc", "charlie/chart", "delta/model", "echo/empty"}, at(0)))
	m.see(at(0), "alpha/app", "bravo/svc", "charlie/chart", "delta/model", "echo/empty")
	m.checkCatalog(t, s, "repositories without tags")

	// Tags before their manifests are indexed; bravo/svc shares a digest with alpha/app, which
	// also holds a cosign signature and an OCI referrers fallback tag (not counted).
	sig := "sha256-" + strings.Repeat("d1", 32)
	must(s.PutTags(ctx, []store.IndexTag{
		tag("alpha/app", sig+".sig", "sha256:s1", 1, 1), tag("alpha/app", sig, "sha256:s2", 1, 1),
		tag("alpha/app", "sha256-short", "sha256:s3", 1, 1),
		tag("alpha/app", "1.0", "sha256:d1", 1, 1), tag("alpha/app", "1.1", "sha256:d2", 1, 2), tag("alpha/app", "latest", "sha256:d2", 1, 2),
		tag("bravo/svc", "v1", "sha256:d1", 1, 3), tag("charlie/chart", "0.1.0", "sha256:c1", 1, 1), tag("delta/model", "m", "sha256:a1", 1, 1),
	}))
	m.checkCatalog(t, s, "tags without manifests")

	// Manifests arriving change the size and kind of every repository tagging them, not only
	// the one they were read in.
	must(s.PutManifests(ctx, "alpha/app", []store.IndexManifest{
		{Digest: "sha256:d1", Kind: "image", Size: 100},
		{Digest: "sha256:d2", Kind: "index", Size: 50},
	}))
	must(s.PutManifests(ctx, "charlie/chart", []store.IndexManifest{{Digest: "sha256:c1", Kind: "artifact", ArtifactType: "application/vnd.cncf.helm.config.v1+json", Size: 7}}))
	must(s.PutManifests(ctx, "", []store.IndexManifest{{Digest: "sha256:a1", Kind: "artifact", ArtifactType: "application/vnd.example.model.v1+json", Size: 100}}))
	rows := m.checkCatalog(t, s, "manifests arrived")
	if r := rows["bravo/svc"]; r.Size != 100 || r.Kind != "image" {
		t.Fatalf("bravo/svc = %+v: a manifest read in alpha/app did not reach it", r)
	}
	if rows["alpha/app"].Size != 150 || rows["charlie/chart"].Kind != "chart" || rows["delta/model"].Kind != "artifact" {
		t.Fatalf("rows = %+v", rows)
	}

	// A tag moved: pushed follows, the size counts each manifest once.
	must(s.PutTags(ctx, []store.IndexTag{tag("alpha/app", "latest", "sha256:d1", 5, 5)}))
	m.checkCatalog(t, s, "tag moved")

	// Notifications: a new repository by push, pulls (a HEAD is not one), a late manifest.
	head := ev("h1", "pull", "alpha/app", "1.0", "sha256:d1", at(6))
	head.RequestMethod = "HEAD"
	_, err = s.AddEvents(ctx, []store.Event{
		ev("p1", "push", "foxtrot/late", "x", "sha256:l1", at(6)),
		ev("p2", "push", "foxtrot/late", "y", "sha256:l2", at(7)),
		ev("g1", "pull", "alpha/app", "1.0", "sha256:d1", at(7)),
		ev("g2", "pull", "alpha/app", "1.0", "sha256:d1", at(8)),
		ev("g3", "pull", "bravo/svc", "v1", "sha256:d1", at(8)),
		head,
	})
	must(err)
	m.see(at(7), "foxtrot/late")
	m.pulls["alpha/app"], m.pulls["bravo/svc"] = 2, 1
	m.checkCatalog(t, s, "pushed and pulled")
	must(s.PutManifests(ctx, "foxtrot/late", []store.IndexManifest{{Digest: "sha256:l1", Kind: "image", Size: 100}, {Digest: "sha256:l2", Kind: "artifact", Size: 3}}))
	m.checkCatalog(t, s, "late manifests")

	// A walk's complete tag lists: alpha/app keeps 1.0 only, delta/model has none left.
	must(s.ReplaceTags(ctx, map[string][]store.IndexTag{
		"alpha/app":   {tag("alpha/app", "1.0", "sha256:d1", 10, 1)},
		"delta/model": {},
	}, at(10)))
	m.checkCatalog(t, s, "tags replaced")

	must(s.DeleteTags(ctx, "bravo/svc", []string{"v1"}))
	m.checkCatalog(t, s, "tags deleted")

	// Deletes by notification: a manifest, a tag, a whole repository's tags.
	_, err = s.AddEvents(ctx, []store.Event{
		ev("d1", "delete", "charlie/chart", "", "sha256:c1", at(11)),
		ev("d2", "delete", "foxtrot/late", "y", "", at(11)),
	})
	must(err)
	m.checkCatalog(t, s, "deleted by notification")
	must(s.PutTags(ctx, []store.IndexTag{tag("echo/empty", "a", "sha256:d2", 12, 12), tag("echo/empty", "b", "sha256:a1", 12, 12)}))
	m.checkCatalog(t, s, "mixed kinds")
	_, err = s.AddEvents(ctx, []store.Event{ev("d3", "delete", "echo/empty", "", "", at(13))})
	must(err)
	m.checkCatalog(t, s, "repository deleted by notification")

	// Tags of a repository the catalog has not listed yet are not a row until it is listed.
	must(s.PutTags(ctx, []store.IndexTag{tag("golf/tagsonly", "1", "sha256:c1", 14, 14), tag("golf/tagsonly", "2", "sha256:a1", 14, 13)}))
	m.checkCatalog(t, s, "tags of an unlisted repository")
	must(s.PutRepositories(ctx, []string{"golf/tagsonly", "alpha/app"}, at(15)))
	m.see(at(15), "golf/tagsonly", "alpha/app")
	m.checkCatalog(t, s, "repository listed after its tags")

	// A complete walk drops what it did not see; a tag confirmed during the walk survives its
	// repository's row and counts again when the repository is listed again.
	must(s.PutTags(ctx, []store.IndexTag{tag("delta/model", "during", "sha256:d1", 20, 20)}))
	must(s.DropRepositories(ctx, at(15)))
	for n, seen := range m.seen {
		if seen.Before(at(15)) {
			delete(m.seen, n)
		}
	}
	rows = m.checkCatalog(t, s, "repositories dropped")
	if len(rows) != 2 {
		t.Fatalf("after the drop: %+v", rows)
	}
	must(s.PutRepositories(ctx, []string{"delta/model", "foxtrot/late"}, at(21)))
	m.see(at(21), "delta/model", "foxtrot/late")
	rows = m.checkCatalog(t, s, "repositories listed again")
	if r := rows["delta/model"]; r.Tags != 1 || r.Size != 100 {
		t.Fatalf("delta/model listed again: %+v", r)
	}

	// Writers at once: tags and the manifests they point to arrive in separate transactions
	// racing each other; every row must still count what all of them wrote.
	must(s.PutRepositories(ctx, []string{"hotel/race", "india/race"}, at(22)))
	m.see(at(22), "hotel/race", "india/race")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Go(func() {
			for i := range 8 {
				d := fmt.Sprintf("sha256:race%d%d", w, i)
				var err error
				switch w {
				case 0, 1:
					repo := []string{"hotel/race", "india/race"}[w]
					err = s.PutTags(ctx, []store.IndexTag{tag(repo, fmt.Sprintf("t%d", i), d, 30+i, 30+i), tag("india/race", fmt.Sprintf("s%d%d", w, i), d, 30, 30)})
				case 2:
					_, err = s.AddEvents(ctx, []store.Event{ev(fmt.Sprintf("race%d", i), "push", "hotel/race", fmt.Sprintf("e%d", i), fmt.Sprintf("sha256:race0%d", i), at(40+i))})
				case 3:
					var ms []store.IndexManifest
					for v := range 3 {
						ms = append(ms, store.IndexManifest{Digest: fmt.Sprintf("sha256:race%d%d", v, i), Kind: []string{"image", "artifact", "index"}[v], Size: int64(1 + v + 10*i)})
					}
					err = s.PutManifests(ctx, "", ms)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m.checkCatalog(t, s, "concurrent writers")
	want := m.expected(t, s)

	// The migration's backfill computes the same rows from the tables it finds.
	must(s.Close())
	postgres := strings.HasPrefix(dsn, "postgres")
	driver := "sqlite"
	if postgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, dsn)
	must(err)
	for _, stmt := range []string{`DROP TABLE index_repository_summary`,
		fmt.Sprintf(`DELETE FROM schema_migrations WHERE version IN (%d, %d)`, store.SummaryMigrationVersion(postgres), store.ImageCountMigrationVersion(postgres))} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	must(db.Close())
	s, err = store.Open(ctx, dsn)
	must(err)
	m.checkCatalog(t, s, "backfilled")
	if got := m.expected(t, s); !slices.EqualFunc(got, want, sameRow) {
		t.Fatalf("backfilled rows changed: %s, want %s", rowString(got), rowString(want))
	}
}
