package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/server/config"
)

// logBuffer collects what Berth logs while a test runs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// captureLogs sends every log record, debug ones too, to the returned buffer until the
// test ends.
func captureLogs(t *testing.T) *logBuffer {
	old := slog.Default()
	logs := &logBuffer{}
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return logs
}

// testSecretsStayIn gives Berth secrets the ways an operator and its users do — an
// endpoint's password, a webhook's secret and a token in its URL, a wrong password, tokens
// as Basic credentials — and finds none of them in API answers, the audit log or the logs.
func testSecretsStayIn(t *testing.T, b *tableBerth, subjects map[string]who, logs *logBuffer) {
	adm := subjects["admin"]
	const (
		endpointPassword = "endpoint-password-7f3a"
		hookSecret       = "webhook-secret-5c1e-long-enough"
		hookToken        = "hook-url-token-99d2"
		wrongPassword    = "wrong-password-a4b8"
	)
	post := func(path, body string, want int) {
		t.Helper()
		if code, out := b.do(t, adm, "POST", path, "application/json", strings.NewReader(body)); code != want {
			t.Fatalf("POST %s: %d %.300s", path, code, out)
		}
	}
	post("/api/v1/registries", `{"name":"secretive","url":"https://registry.example","username":"robot","password":"`+endpointPassword+`"}`, 201)
	post("/api/v1/namespaces/web/webhooks", `{"url":"https://hooks.example/x?token=`+hookToken+`","events":["push"],"secret":"`+hookSecret+`"}`, 201)
	post("/api/v1/registries/secretive/test", `{}`, 200) // fails to reach it: the failure is logged, if at all, without the password
	if code, _ := b.do(t, who{from: "127.0.0.41"}, "POST", "/api/v1/session", "application/json",
		strings.NewReader(`{"username":"admin","password":"`+wrongPassword+`"}`)); code != 401 {
		t.Errorf("a wrong password signs in: %d", code)
	}
	var answers strings.Builder
	for _, path := range []string{"/api/v1/registries", "/api/v1/namespaces/web/webhooks", "/api/v1/audit?limit=500", "/api/v1/tokens", "/api/v1/namespaces/web/robots"} {
		_, out := b.do(t, adm, "GET", path, "", nil)
		answers.Write(out)
	}
	_, audit := b.do(t, adm, "GET", "/api/v1/audit?limit=500", "", nil)
	secrets := map[string]string{"endpoint password": endpointPassword, "webhook secret": hookSecret, "wrong password": wrongPassword, "password": tablePassword}
	for name, w := range subjects {
		if strings.HasPrefix(w.secret, "berth_") || strings.Contains(name, "robot") || strings.Contains(name, "PAT") {
			secrets[name+"'s secret"] = w.secret
		}
	}
	for name, s := range secrets {
		if strings.Contains(answers.String(), s) {
			t.Errorf("an API answer shows the %s", name)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs show the %s", name)
		}
	}
	if strings.Contains(string(audit), hookToken) || strings.Contains(logs.String(), hookToken) {
		t.Errorf("the audit log or the logs show the token in a webhook's URL")
	}
	if !strings.Contains(string(audit), "secretive") || len(logs.String()) == 0 {
		t.Errorf("nothing to search: audit %d bytes, logs %d bytes", len(audit), len(logs.String()))
	}
}

// TestVulnDBURLErrorHidesCredentials: a refused --vuln-db-url is named without the
// credentials or token it carries.
func TestVulnDBURLErrorHidesCredentials(t *testing.T) {
	cfg := config.Default()
	for _, raw := range []string{"ftp://robot:hunter2-pass@db.example/osv.zip", "file:///db.zip?token=hunter2-pass"} {
		cfg.VulnDBURL = raw
		if _, err := newScans(cfg, nil, nil, nil, nil, nil); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
