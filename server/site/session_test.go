package site_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func request(t *testing.T, method, url, contentType, body string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func errorCode(t *testing.T, body string) api.Code {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not a JSON error: %s", body)
	}
	return api.Code(e.Error.Code)
}

func TestSignInToProtectedRegistry(t *testing.T) {
	var logs syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })

	const password = "s3cret-Password-42"
	base := registrytest.Htpasswd(t, map[string]string{"alice": password})
	img, _ := random.Image(256, 1)
	ref, _ := name.ParseReference(strings.TrimPrefix(base, "http://")+"/private/app:1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "alice", Password: password}))); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.WebDir = t.TempDir()
	h := newSite(t, cfg, base, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	repos := srv.URL + "/api/v1/repositories"
	sessionURL := srv.URL + "/api/v1/session"

	resp, body := request(t, http.MethodGet, repos, "", "")
	if resp.StatusCode != http.StatusUnauthorized || errorCode(t, body) != api.CodeUnauthorized {
		t.Fatalf("catalog before sign-in: %d %s", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code                    api.Code
	}{
		{"wrong password", "application/json", `{"username":"alice","password":"wrong"}`, 401, api.CodeInvalidCredentials},
		{"unknown user", "application/json", `{"username":"mallory","password":"x"}`, 401, api.CodeInvalidCredentials},
		{"malformed JSON", "application/json", `{"username":`, 400, api.CodeBadRequest},
		{"unknown field", "application/json", `{"user":"alice"}`, 400, api.CodeBadRequest},
		{"empty password", "application/json", `{"username":"alice","password":""}`, 400, api.CodeMissingCredentials},
		{"form post", "application/x-www-form-urlencoded", "username=alice&password=x", 415, api.CodeUnsupportedMediaType},
		{"huge body", "application/json", `{"username":"alice","password":"` + strings.Repeat("x", 100<<10) + `"}`, 413, api.CodeTooLarge},
	} {
		resp, body := request(t, http.MethodPost, sessionURL, tc.contentType, tc.body)
		if resp.StatusCode != tc.status || errorCode(t, body) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.code)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: a cookie was set", tc.name)
		}
	}

	resp, body = request(t, http.MethodPost, sessionURL, "application/json", `{"username":"alice","password":"`+password+`"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"alice"`) {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "berth_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/", cookie)
	}
	if strings.Contains(cookie.Value, password) || strings.Contains(body, password) {
		t.Fatal("the password reached the browser")
	}

	resp, body = request(t, http.MethodGet, repos, "", "", cookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "private/app") {
		t.Fatalf("catalog after sign-in: %d %s", resp.StatusCode, body)
	}
	resp, body = request(t, http.MethodGet, srv.URL+"/api/v1/repositories/private/app/tags", "", "", cookie)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"name":"1"`) {
		t.Fatalf("tags after sign-in: %d %s", resp.StatusCode, body)
	}
	if _, body = request(t, http.MethodGet, sessionURL, "", "", cookie); !strings.Contains(body, `"user":"alice"`) {
		t.Errorf("session: %s", body)
	}

	resp, _ = request(t, http.MethodDelete, sessionURL, "", "", cookie)
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == "berth_session" && c.MaxAge < 0)
	}
	if resp.StatusCode != http.StatusOK || !cleared {
		t.Fatalf("sign-out: %d, cookie cleared %v", resp.StatusCode, cleared)
	}
	if resp, _ = request(t, http.MethodGet, repos, "", "", cookie); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old cookie still works after sign-out: %d", resp.StatusCode)
	}

	// The request log line is written after the answer went out: wait for it.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(logs.String(), "method=DELETE path=/api/v1/session") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), password) {
		t.Fatal("the password was logged")
	}
	if !strings.Contains(logs.String(), "signed in") {
		t.Fatal("sign-in was not logged at all; the log check above proves nothing")
	}
}
