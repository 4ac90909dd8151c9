package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestKnownRepositoriesFromFlagEnvAndFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "repositories")
	if err := os.WriteFile(file, []byte("# GitLab projects\nteam/api\n  team/web , team/api\n\nlib/base # shared\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := load(t, []string{"--repositories", "b/one, a/two", "--repositories-file", file}, map[string]string{"BERTH_REPOSITORIES": "from/env"})
	got, err := c.KnownRepositories()
	if err != nil {
		t.Fatal(err)
	}
	// The flag replaces the environment's list; the file adds to it.
	if want := []string{"a/two", "b/one", "lib/base", "team/api", "team/web"}; !slices.Equal(got, want) {
		t.Errorf("known repositories %v, want %v", got, want)
	}
	c.RepositoriesFile = filepath.Join(t.TempDir(), "missing")
	if _, err := c.KnownRepositories(); err == nil {
		t.Error("a missing --repositories-file was taken")
	}
}
