package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
)

// TestServeAccessControl starts the real server with --access-control: the first
// administrator comes from --admin-password-file, the demo is seeded with Berth's own tokens
// into a registry that takes only Berth's tokens, anonymous callers see nothing private,
// and the administrator sees everything. Without the flag, the demo stays open.
func TestServeAccessControl(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(pwFile, []byte("first admin password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startBerth(t, func(c *config.Config) {
		c.AccessControl, c.AnonymousWrites = true, false
		c.AdminPasswordFile = pwFile
		c.SyncInterval = 0
	})
	list := func(user, password string) (int, []api.Repository) {
		req, _ := http.NewRequest("GET", url+"/api/v1/repositories", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page api.RepositoryPage
		_ = json.NewDecoder(resp.Body).Decode(&page)
		return resp.StatusCode, page.Repositories
	}
	if code, repos := list("", ""); code != 200 || len(repos) != 0 {
		t.Errorf("anonymous: %d %v, want an empty list", code, repos)
	}
	if code, repos := list("admin", "first admin password"); code != 200 || len(repos) < 10 {
		t.Errorf("administrator: %d, %d repositories; want the seeded demo", code, len(repos))
	}
	if code, repos := list("admin", "wrong"); code != 200 || len(repos) != 0 {
		t.Errorf("wrong password: %d %v, want anonymous", code, repos)
	}
	resp, err := http.Get(url + "/auth/certs.pem")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("certificate bundle: %d", resp.StatusCode)
	}

	open := startBerth(t, func(c *config.Config) { c.SyncInterval = 0 })
	resp, err = http.Get(open + "/api/v1/repositories")
	if err != nil {
		t.Fatal(err)
	}
	var page api.RepositoryPage
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Repositories) < 10 {
		t.Errorf("without --access-control the demo is not open: %d repositories", len(page.Repositories))
	}
	if resp, err := http.Get(open + "/auth/token"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("without --access-control, /auth/token answers")
		}
	}
}
