package ui

import (
	"testing"

	"github.com/berth-registry/berth/app/api"
)

func TestIndexingTextSaysHowFar(t *testing.T) {
	for _, c := range []struct {
		p    *api.IndexProgress
		want string
	}{
		{nil, "Berth is still reading the registry's catalog."},
		{&api.IndexProgress{Running: true, Phase: "catalog", Repositories: 10000}, "indexing: listing repositories (10,000 so far)"},
		{&api.IndexProgress{Running: true, Phase: "tags", Repositories: 3002, RepositoriesDone: 1240}, "indexing 1,240 of 3,002 repositories"},
		{&api.IndexProgress{Running: true, Phase: "details", Manifests: 12345}, "indexing done, describing images (12,345 so far)"},
		// A caller who may not see every repository gets no counts.
		{&api.IndexProgress{Running: true, Phase: "tags"}, "indexing the registry"},
	} {
		if got := indexingText(c.p); got != c.want {
			t.Errorf("indexingText(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}
