package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// testCraftedRequests sends what an outsider crafts — names that climb out of their place,
// bodies too large or broken, methods a route does not take — to every route of the sweep,
// as the administrator (past authorization, so the handlers themselves answer). Every answer
// is a bounded JSON error with the right status: never a 500, never a success.
func testCraftedRequests(t *testing.T, b *tableBerth, subjects map[string]who) {
	adm := subjects["admin"]
	fill := sweepFiller(t, b, subjects)
	t.Run("names", func(t *testing.T) {
		for _, name := range craftedNames() {
			for _, path := range []string{
				"/api/v1/repositories/" + name + "/tags",
				"/api/v1/repositories/" + name + "/manifests/v1",
				"/api/v1/contents/" + name + "/-/image/v1",
				"/api/v1/charts/" + name + "/versions",
				"/api/v1/stats/" + name,
				"/api/v1/scans/DIGEST?repository=" + url.QueryEscape(name),
				"/api/v1/namespaces/" + name + "/quota",
				"/api/v1/namespaces/" + name + "/immutable",
				"/api/v1/namespaces/" + name + "/webhooks",
				"/api/v1/namespaces/" + name + "/retention",
				"/api/v1/teams/" + name,
				"/api/v1/diff?from=" + url.QueryEscape(name+":v1") + "&to=web/app:v1",
			} {
				code, out := b.do(t, adm, "GET", fill.Replace(path), "", nil)
				if code != http.StatusBadRequest && code != http.StatusNotFound {
					t.Errorf("GET %s: %d %.200s, want 400 or 404", path, code, out)
				}
				checkError(t, "GET "+path, code, out)
			}
			for _, body := range []string{
				`{"kind":"delete","repository":` + quote(name) + `,"references":["nope"]}`,
				`{"kind":"copy","repository":"web/app","references":["v1"],"destination":` + quote(name) + `}`,
			} {
				code, out := b.do(t, adm, "POST", "/api/v1/jobs", "application/json", strings.NewReader(body))
				if code != http.StatusBadRequest && code != http.StatusNotFound && code != http.StatusForbidden {
					t.Errorf("POST /api/v1/jobs %s: %d %.200s, want 400", body, code, out)
				}
				checkError(t, "POST /api/v1/jobs", code, out)
			}
			code, out := b.do(t, adm, "POST", "/api/v1/scans", "application/json", strings.NewReader(`{"repository":`+quote(name)+`,"reference":"v1"}`))
			if code != http.StatusBadRequest && code != http.StatusNotFound {
				t.Errorf("POST /api/v1/scans %q: %d %.200s, want 400 or 404", name, code, out)
			}
			checkError(t, "POST /api/v1/scans", code, out)
		}
	})
	t.Run("bodies", func(t *testing.T) {
		// Over every limit (64 KiB; a job request's 1 MiB), under what Go's server drains
		// (256 KiB) from a handler answering before it reads: the answer arrives, not a reset.
		huge := func(path string) string {
			n := 160 << 10
			if path == "/api/v1/jobs" {
				n = 1<<20 + 1
			}
			return `{"name":"` + strings.Repeat("a", n) + `"}`
		}
		for _, p := range b.root.Patterns() {
			row := routeRows[p]
			method, _, _ := strings.Cut(p, " ")
			if row.body == "" || row.skip != "" || row.keep || !strings.HasPrefix(row.path, "/api/") || method == p {
				continue
			}
			path := fill.Replace(row.path)
			for _, c := range []struct {
				name, body string
				want       int
			}{{"oversized", huge(path), http.StatusRequestEntityTooLarge}, {"malformed", `{"name":`, http.StatusBadRequest}, {"two values", row.body + row.body, http.StatusBadRequest}} {
				code, out, err := b.send(adm, method, path, c.body)
				if err != nil && c.want == http.StatusRequestEntityTooLarge && refusedMidBody(err) {
					continue // it answered before the body was all sent, and hung up: bounded
				}
				if err != nil {
					t.Fatal(err)
				}
				// A route whose handler finds nothing to act on (404) before it reads a body,
				// or that takes no JSON (415, early), answers that first.
				if code != c.want && code != http.StatusNotFound && !(row.early && (code == http.StatusBadRequest || code == http.StatusUnsupportedMediaType)) {
					t.Errorf("%s body to %s %s: %d %.200s, want %d", c.name, method, path, code, out, c.want)
				}
				checkError(t, method+" "+path, code, out)
			}
		}
	})
	t.Run("methods", func(t *testing.T) {
		// A mux holding the table's patterns says which method and path pairs are routed;
		// what only the /api/v1/ catch-all takes must be a 405.
		probe := http.NewServeMux()
		for _, p := range b.root.Patterns() {
			probe.Handle(p, http.NotFoundHandler())
		}
		n := 0
		for _, p := range b.root.Patterns() {
			row := routeRows[p]
			if !strings.HasPrefix(row.path, "/api/v1/") || !strings.Contains(p, " ") {
				continue
			}
			path := fill.Replace(row.path)
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				req, _ := http.NewRequest(m, b.base+path, nil)
				if _, pattern := probe.Handler(req); pattern != "/api/v1/" {
					continue
				}
				n++
				code, out := b.do(t, adm, m, path, "application/json", strings.NewReader("{}"))
				if code != http.StatusMethodNotAllowed {
					t.Errorf("%s %s (%s): %d %.200s, want 405", m, path, p, code, out)
				}
				checkError(t, m+" "+path, code, out)
			}
		}
		t.Logf("%d wrong methods", n)
	})
}

// send is tableBerth.do with a JSON body, handing back a transport error.
func (b *tableBerth) send(w who, method, path, body string) (int, []byte, error) {
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(w.user, w.secret)
	resp, err := w.client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

// refusedMidBody reports whether err is the server closing the connection while a body
// was still being sent: what it does after answering 413 to an oversized one.
func refusedMidBody(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// craftedNames are names no repository, namespace or team may have.
func craftedNames() []string {
	return []string{
		"..", "../etc", "web/../eve/tool", "web/%2e%2e/eve", "web%2Fapp%2F..%2F..", "Web/App",
		strings.Repeat("a", 300) + "/app", "web/app%00", "web//app", "web/./app", "-web/app", "web/app/",
		"web%5Capp", "%2e%2e%2fetc", "web/app%0d%0ax",
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkError holds an error answer to Berth's form: JSON {"error":{"code","message"}}, no
// 500, a short readable message without Go's error chains.
func checkError(t *testing.T, what string, code int, out []byte) {
	t.Helper()
	if code >= 500 {
		t.Errorf("%s: %d %.300s", what, code, out)
	}
	if code < 400 {
		return
	}
	var e api.ErrorBody
	if err := json.Unmarshal(out, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: %d, not a JSON error: %.200s", what, code, out)
		return
	}
	for _, leak := range []string{"/tmp/", "goroutine", "dial tcp", "runtime error", "sql:", "SQLITE"} {
		if strings.Contains(e.Error.Message, leak) {
			t.Errorf("%s: the message shows %q: %s", what, leak, e.Error.Message)
		}
	}
	if len(e.Error.Message) > 600 {
		t.Errorf("%s: a %d-byte message", what, len(e.Error.Message))
	}
}
