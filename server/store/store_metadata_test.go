package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/store"
)

// contractMetadata covers the metadata index.
func contractMetadata(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("metadata index", func(t *testing.T) {
		ctx := t.Context()
		s := open(t)
		tagList := func(repo string) string {
			t.Helper()
			got, err := s.IndexTags(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, g := range got {
				p := g.Tag + "=" + g.Digest
				if g.Manifest != nil {
					p += "/" + g.Manifest.Kind
				}
				parts = append(parts, p)
			}
			return strings.Join(parts, " ")
		}
		// A push notification puts the tag (and its repository) into the index in the event's
		// own transaction; a manifest delete takes its tags out.
		if _, err := s.AddEvents(ctx, []store.Event{
			ev("p1", "push", "team/app", "1.0", "sha256:aaa", base),
			ev("p2", "push", "team/app", "latest", "sha256:aaa", base),
			ev("p3", "push", "team/app", "old", "sha256:bbb", base),
		}); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "1.0=sha256:aaa latest=sha256:aaa old=sha256:bbb" {
			t.Fatalf("after pushes: %s", got)
		}
		if _, err := s.AddEvents(ctx, []store.Event{ev("d1", "delete", "team/app", "", "sha256:bbb", base.Add(time.Minute))}); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "1.0=sha256:aaa latest=sha256:aaa" {
			t.Fatalf("after manifest delete: %s", got)
		}
		// A confirmation older than the stored one changes nothing; pushed moves only with the digest.
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "1.0", Digest: "sha256:old", Checked: base.Add(-time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "latest", Digest: "sha256:aaa", Checked: base.Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.IndexTags(ctx, "team/app")
		if err != nil || len(got) != 2 || got[0].Digest != "sha256:aaa" || !got[1].Pushed.Equal(base) || !got[1].Checked.Equal(base.Add(time.Hour)) {
			t.Fatalf("after confirmations: %+v, %v", got, err)
		}
		missing, err := s.MissingManifests(ctx, "", 10)
		if err != nil || len(missing) != 1 || missing[0] != (store.MissingManifest{Repository: "team/app", Digest: "sha256:aaa"}) {
			t.Fatalf("missing = %+v, %v", missing, err)
		}
		if after, _ := s.MissingManifests(ctx, "sha256:aaa", 10); len(after) != 0 {
			t.Fatalf("missing after sha256:aaa: %+v", after)
		}
		created := base.Add(-24 * time.Hour)
		idx := store.IndexManifest{
			Digest: "sha256:aaa", MediaType: "application/vnd.oci.image.index.v1+json", Kind: "index", Size: 300, Created: created,
			Attestations: 1,
			Platforms: []store.IndexPlatform{
				{OS: "linux", Architecture: "amd64", Digest: "sha256:c1", Size: 100, Created: created, Labels: map[string]string{"org.opencontainers.image.source": "https://example.com/App"}},
				{OS: "linux", Architecture: "arm64", Digest: "sha256:c2", Size: 200, Created: created},
			},
		}
		sig := store.IndexManifest{Digest: "sha256:sig", Kind: "artifact", ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json", Size: 5, Subject: "sha256:aaa"}
		chart := store.IndexManifest{Digest: "sha256:chart", Kind: "artifact", ArtifactType: "application/vnd.cncf.helm.config.v1+json", Size: 7}
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{idx, sig}); err != nil {
			t.Fatal(err)
		}
		// Content-addressed: a second write of the same digest keeps the first.
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:aaa", Kind: "image", Size: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutManifests(ctx, "charts/web", []store.IndexManifest{chart}); err != nil {
			t.Fatal(err)
		}
		got, err = s.IndexTags(ctx, "team/app")
		if err != nil || len(got) != 2 {
			t.Fatalf("tags = %+v, %v", got, err)
		}
		m := got[0].Manifest
		if m == nil || m.Kind != "index" || m.Size != 300 || !m.Created.Equal(created) || m.Attestations != 1 || len(m.Platforms) != 2 ||
			m.Platforms[1].Architecture != "arm64" || m.Platforms[1].Size != 200 || got[0].Referrers != 1 {
			t.Fatalf("summary = %+v (referrers %d)", m, got[0].Referrers)
		}
		if missing, _ := s.MissingManifests(ctx, "", 10); len(missing) != 0 {
			t.Fatalf("still missing: %+v", missing)
		}

		// The sync replaces a repository's tags as read at a moment: rows older that it did not
		// see go, rows confirmed after it (a push during the walk) stay.
		walk := base.Add(2 * time.Hour)
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "during", Digest: "sha256:aaa", Checked: walk.Add(time.Second)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReplaceTags(ctx, map[string][]store.IndexTag{"team/app": {{Repository: "team/app", Tag: "1.0", Digest: "sha256:aaa", Checked: walk}}}, walk); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "1.0=sha256:aaa/index during=sha256:aaa/index" {
			t.Fatalf("after replace: %s", got)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "charts/web", Tag: "1.2.0", Digest: "sha256:chart", Checked: base}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRepositories(ctx, []string{"charts/web", "empty/one"}, base); err != nil {
			t.Fatal(err)
		}
		pull := ev("pull1", "pull", "team/app", "1.0", "sha256:aaa", base)
		if _, err := s.AddEvents(ctx, []store.Event{pull}); err != nil {
			t.Fatal(err)
		}

		// Catalog rows: counts, last push, size of distinct manifests, pulls and kind.
		rows, total, err := s.IndexRepositories(ctx, store.RepositoryQuery{Limit: 10})
		if err != nil || total != 3 || len(rows) != 3 {
			t.Fatalf("repositories = %+v, %d, %v", rows, total, err)
		}
		want := []store.RepositorySummary{
			{Name: "charts/web", Tags: 1, LastPush: base, Size: 7, Kind: "chart"},
			{Name: "empty/one"},
			{Name: "team/app", Tags: 2, LastPush: walk.Add(time.Second), Size: 300, Pulls: 1, Kind: "image"},
		}
		for i := range want {
			g := rows[i]
			if g.Name != want[i].Name || g.Tags != want[i].Tags || !g.LastPush.Equal(want[i].LastPush) || g.Size != want[i].Size || g.Pulls != want[i].Pulls || g.Kind != want[i].Kind {
				t.Errorf("row %d = %+v, want %+v", i, g, want[i])
			}
		}
		names := func(q store.RepositoryQuery) string {
			t.Helper()
			rows, _, err := s.IndexRepositories(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var n []string
			for _, r := range rows {
				n = append(n, r.Name)
			}
			return strings.Join(n, " ")
		}
		for q, want := range map[store.RepositoryQuery]string{
			{Sort: "-name", Limit: 2}:              "team/app empty/one",
			{Sort: "-size", Limit: 10}:             "team/app charts/web empty/one",
			{Sort: "size", Limit: 10}:              "empty/one charts/web team/app",
			{Sort: "-pushed", Limit: 1, Offset: 1}: "charts/web",
			{Query: "APP", Limit: 10}:              "team/app",
			{Query: "%", Limit: 10}:                "",
		} {
			if got := names(q); got != want {
				t.Errorf("%+v: %q, want %q", q, got, want)
			}
		}

		// Global search: by name, by digest (directly and as a platform), by label.
		search := func(q string) string {
			t.Helper()
			hits, err := s.Search(ctx, q, 10)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, h := range hits {
				parts = append(parts, h.Match+":"+h.Repository+":"+h.Tag+h.Label)
			}
			return strings.Join(parts, " ")
		}
		for q, want := range map[string]string{
			"app":       "repository:team/app:",
			"DUR":       "tag:team/app:during",
			"1.2":       "tag:charts/web:1.2.0",
			"sha256:aa": "digest:team/app:1.0 digest:team/app:during",
			"sha256:c2": "digest:team/app:1.0 digest:team/app:during",
			"org.opencontainers.image.source=example.com/app": "label:team/app:1.0org.opencontainers.image.source=https://example.com/App label:team/app:duringorg.opencontainers.image.source=https://example.com/App",
			"label:nothing": "",
			"sha256:zz":     "",
		} {
			if got := search(q); got != want {
				t.Errorf("search %q = %q, want %q", q, got, want)
			}
		}

		// The tag filter by label: on the image itself or on a platform of an index, the value
		// as a case-insensitive part, in one repository only.
		labeled := func(repo, name, value string) string {
			t.Helper()
			tags, err := s.LabeledTags(ctx, repo, name, value)
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(tags, " ")
		}
		if err := s.PutManifests(ctx, "team/app", []store.IndexManifest{{Digest: "sha256:img", Kind: "image", Labels: map[string]string{"tier": "Backend"}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTags(ctx, []store.IndexTag{{Repository: "team/app", Tag: "api", Digest: "sha256:img", Checked: walk}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ repo, name, value, want string }{
			{"team/app", "org.opencontainers.image.source", "", "1.0 during"},
			{"team/app", "org.opencontainers.image.source", "EXAMPLE.com", "1.0 during"},
			{"team/app", "org.opencontainers.image.source", "other.org", ""},
			{"team/app", "tier", "backend", "api"},
			{"team/app", "tier", "", "api"},
			{"team/app", "tier%", "", ""},
			{"charts/web", "tier", "", ""},
		} {
			if got := labeled(c.repo, c.name, c.value); got != c.want {
				t.Errorf("labeled tags %s %s=%s = %q, want %q", c.repo, c.name, c.value, got, c.want)
			}
		}
		// The manifests seen in a repository: pushed (p1–p3, sha256:bbb deleted since) and read there.
		if got, err := s.RepositoryManifests(ctx, "team/app", 10); err != nil || strings.Join(got, " ") != "sha256:aaa sha256:img sha256:sig" {
			t.Errorf("repository manifests = %v, %v", got, err)
		}
		if got, err := s.RepositoryManifests(ctx, "team/app", 1); err != nil || len(got) != 1 {
			t.Errorf("repository manifests, limit 1 = %v, %v", got, err)
		}
		// What the index knows of where each stood: sha256:aaa tagged (pushed with a tag),
		// sha256:c2 a platform of it and never tagged, sha256:img tagged (api), sha256:bbb
		// forgotten with its delete, sha256:sig neither.
		hist, err := s.ManifestHistory(ctx, "team/app", []string{"sha256:aaa", "sha256:c2", "sha256:img", "sha256:bbb", "sha256:sig"})
		if err != nil {
			t.Fatal(err)
		}
		for d, want := range map[string]store.ManifestHistory{
			"sha256:aaa": {Tagged: true},
			"sha256:c2":  {Parents: []string{"sha256:aaa"}},
			"sha256:img": {Tagged: true},
			"sha256:bbb": {},
			"sha256:sig": {},
		} {
			if got := hist[d]; got.Tagged != want.Tagged || !slices.Equal(got.Parents, want.Parents) {
				t.Errorf("history of %s = %+v, want %+v", d, got, want)
			}
		}
		if hist, err := s.ManifestHistory(ctx, "charts/web", []string{"sha256:img", "sha256:c2"}); err != nil || hist["sha256:img"].Tagged || len(hist["sha256:c2"].Parents) != 1 {
			t.Errorf("history in another repository: tags are per repository, indexes are not: %+v, %v", hist, err)
		}

		// Documents are content-addressed: the first stored stays.
		if err := s.PutDocuments(ctx, map[string][]byte{"manifest/sha256:aaa": []byte("one")}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutDocuments(ctx, map[string][]byte{"manifest/sha256:aaa": []byte("two"), "blob/sha256:b": {0, 1}}); err != nil {
			t.Fatal(err)
		}
		if doc, ok, err := s.Document(ctx, "manifest/sha256:aaa"); err != nil || !ok || string(doc) != "one" {
			t.Fatalf("document = %q, %v, %v", doc, ok, err)
		}
		if _, ok, err := s.Document(ctx, "manifest/sha256:none"); err != nil || ok {
			t.Fatalf("unknown document: %v, %v", ok, err)
		}
		if _, _, ok, err := s.IndexState(ctx, "catalog"); err != nil || ok {
			t.Fatalf("unset state: %v, %v", ok, err)
		}
		if err := s.SetIndexState(ctx, "catalog", "complete"); err != nil {
			t.Fatal(err)
		}
		if v, at, ok, err := s.IndexState(ctx, "catalog"); err != nil || !ok || v != "complete" || time.Since(at) > time.Minute {
			t.Fatalf("state = %q %v %v %v", v, at, ok, err)
		}

		// A complete catalog walk that no longer lists a repository drops it and its tags.
		if err := s.PutRepositories(ctx, []string{"team/app", "charts/web"}, walk); err != nil {
			t.Fatal(err)
		}
		if err := s.DropRepositories(ctx, walk); err != nil {
			t.Fatal(err)
		}
		if got := names(store.RepositoryQuery{Limit: 10}); got != "charts/web team/app" {
			t.Fatalf("after drop: %s", got)
		}
		// A repository delete event empties it.
		if _, err := s.AddEvents(ctx, []store.Event{ev("d2", "delete", "team/app", "", "", walk.Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if got := tagList("team/app"); got != "" {
			t.Fatalf("after repository delete: %s", got)
		}
	})
}
