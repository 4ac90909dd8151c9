//go:build !(js && wasm)

package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// mapStorage stands in for localStorage.
type mapStorage map[string]string

func (m mapStorage) Set(key, value string) { m[key] = value }
func (m mapStorage) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}
func (m mapStorage) Delete(prefix string) {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			delete(m, k)
		}
	}
}

// TestSavedPagesBelongToTheUser: answers are saved under the signed-in user, recalled only
// for them, dropped when the server names someone else, and all gone after sign-out.
func TestSavedPagesBelongToTheUser(t *testing.T) {
	mem := mapStorage{}
	storage = mem
	t.Cleanup(func() { storage = noStorage{}; owner.loaded = false })
	user := "alice"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/session":
			_, _ = w.Write([]byte(`{"user":"` + user + `"}`))
		case "/api/v1/tokens":
			_, _ = w.Write([]byte(`{"tokens":[{"id":"1","name":"ci"}]}`))
		default:
			_, _ = w.Write([]byte(`{"repository":"private/app","digest":"sha256:secret-manifest"}`))
		}
	}))
	c := &Berth{Base: srv.URL}
	ctx := context.Background()
	if _, err := c.Session(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Manifest(ctx, "private/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Tokens(ctx); err != nil {
		t.Fatal(err)
	}
	var saved []string
	for k := range mem {
		saved = append(saved, k)
	}
	want := storageKeyPrefix + "alice|" + srv.URL + "/api/v1/repositories/private/app/manifests/v1"
	if len(saved) != 2 || mem[ownerKey] != "alice" || mem[want] == "" {
		t.Fatalf("saved %v, want the manifest under alice and the owner's name, no tokens", saved)
	}

	// The server is gone: alice's page is recalled for alice only.
	srv.Close()
	var m api.Manifest
	if _, err := c.Manifest(ctx, "private/app", "v1"); err != nil {
		t.Fatalf("offline recall for alice: %v", err)
	}
	SetUser("bob") // the server said someone else is signed in now
	if len(mem) != 1 || mem[ownerKey] != "bob" {
		t.Fatalf("after another user: %v, want alice's pages gone", mem)
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/repositories/private/app/manifests/v1", nil, &m); !Offline(err) {
		t.Fatalf("bob offline got alice's page: %v %+v", err, m)
	}

	mem[storageKeyPrefix+"bob|x"] = "{}"
	_ = c.SignOut(ctx) // fails: the server is gone; the pages go anyway
	if len(mem) != 0 {
		t.Fatalf("after sign-out the browser keeps %v", mem)
	}
}
