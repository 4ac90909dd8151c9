package auth_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestRepositoryAccess: GET /api/v1/access says what the caller may do to a repository, by
// the one policy, and lists the namespace's members to its owners and administrators only;
// GET /api/v1/session says access control is on and who is an administrator.
func TestRepositoryAccess(t *testing.T) {
	f := newFixture(t)
	srv := berthAPI(t, f, "127.0.0.1:1") // no registry is asked
	for _, tc := range []struct {
		user, repo string
		actions    []string
		public     bool
		members    bool
	}{
		{"", "pub/base", []string{"pull"}, true, false},
		{"", "web/app", nil, false, false},
		{"vic", "web/app", []string{"pull"}, false, false},
		{"dev", "web/app", []string{"pull", "push"}, false, false},
		{"max", "web/app", []string{"pull", "push", "delete"}, false, false},
		{"olga", "web/app", []string{"pull", "push", "delete", "manage"}, false, true},
		{"root", "web/app", []string{"pull", "push", "delete", "manage"}, false, true},
		{"eve", "web/app", nil, false, false},
	} {
		var got api.RepositoryAccess
		if code := call(t, srv, "GET", "/api/v1/access?repository="+tc.repo, tc.user, pw, nil, &got); code != http.StatusOK {
			t.Fatalf("%q on %s: %d", tc.user, tc.repo, code)
		}
		if !slices.Equal(got.Actions, tc.actions) || got.Public != tc.public || got.Namespace != "web" && tc.repo == "web/app" || !got.Known {
			t.Errorf("%q on %s: %+v, want actions %v public %v", tc.user, tc.repo, got, tc.actions, tc.public)
		}
		if (len(got.Members) > 0) != tc.members {
			t.Errorf("%q on %s: members %+v, want listed: %v", tc.user, tc.repo, got.Members, tc.members)
		}
		if tc.members && !slices.Contains(got.Members, api.AccessMember{User: "dev", Role: "developer", Via: "team web"}) {
			t.Errorf("%q on %s: members %+v lack dev (developer through team web)", tc.user, tc.repo, got.Members)
		}
	}
	var e api.ErrorBody
	if code := call(t, srv, "GET", "/api/v1/access?repository=../etc", "root", pw, nil, &e); code != http.StatusBadRequest || e.Error.Code != api.CodeNameInvalid {
		t.Errorf("invalid name: %d %+v", code, e)
	}

	for user, want := range map[string]api.Session{
		"":     {AccessControl: true},
		"dev":  {User: "dev", AccessControl: true},
		"root": {User: "root", Admin: true, AccessControl: true},
	} {
		var got api.Session
		if code := call(t, srv, "GET", "/api/v1/session", user, pw, nil, &got); code != 200 || got.User != want.User || got.Admin != want.Admin || !got.AccessControl {
			t.Errorf("session of %q: %d %+v, want %+v", user, code, got, want)
		}
	}
	var got api.Session
	if code := call(t, srv, "GET", "/api/v1/session", "root", "wrong password", nil, &got); code != 200 || got.User != "" || got.Admin {
		t.Errorf("session with a wrong password: %d %+v, want nobody", code, got)
	}
}
