package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Admit decides whether a pulled manifest may be served: "" lets it through, anything else is
// the refusal's message, naming the policy (server/scan's pull policy).
type Admit func(ctx context.Context, repository, digest string) string

// repositoryPath returns the repository of a /v2/<name>/<route>/… path and the route:
// manifests, blobs, tags or referrers, the registry API's routes under a name (a name's own
// components may read like one; the last one is the route).
func repositoryPath(path string) (name, route string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", false
	}
	at := -1
	for _, r := range []string{"manifests", "blobs", "tags", "referrers"} {
		if i := strings.LastIndex(rest, "/"+r+"/"); i > at {
			at, route = i, r
		}
	}
	if at <= 0 {
		return "", "", false
	}
	return rest[:at], route, true
}

// manifestPath returns the repository of a /v2/<name>/manifests/<ref> path.
func manifestPath(path string) (string, bool) {
	name, route, ok := repositoryPath(path)
	return name, ok && route == "manifests"
}

// admitManifest replaces a manifest the policy refuses with the registry's error format:
// 403 DENIED and the policy's message, the manifest's bytes never reaching the client.
func (p *Proxy) admitManifest(resp *http.Response) {
	req := resp.Request
	if p.admit == nil || resp.StatusCode != http.StatusOK || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return
	}
	repo, ok := manifestPath(req.URL.Path)
	digest := resp.Header.Get("Docker-Content-Digest")
	if !ok || digest == "" {
		return
	}
	msg := p.admit(req.Context(), repo, digest)
	if msg == "" {
		return
	}
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": msg}}})
	_ = resp.Body.Close()
	resp.StatusCode, resp.Status = http.StatusForbidden, "403 Forbidden"
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	for _, h := range []string{"Docker-Content-Digest", "Etag", "Content-Encoding"} {
		resp.Header.Del(h)
	}
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
}
