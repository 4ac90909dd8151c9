package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/webhooks"
)

// received is one request the loopback receiver got.
type received struct {
	path, contentType, signature, event string
	body                                []byte
}

// receiver is a loopback webhook endpoint; /retry answers 500 to its first two requests.
type receiver struct {
	mu    sync.Mutex
	got   []received
	fails int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, received{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get(webhooks.SignatureHeader), r.Header.Get("X-Berth-Event"), b})
	if r.URL.Path == "/retry" && rc.fails < 2 {
		rc.fails++
		w.WriteHeader(http.StatusInternalServerError)
	}
}

func (rc *receiver) at(path, event string) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []received
	for _, g := range rc.got {
		if g.path == path && g.event == event {
			out = append(out, g)
		}
	}
	return out
}

// TestWebhooks: a push to a namespace reaches its webhooks in JSON, CloudEvents 1.0 and
// Slack form, signed with HMAC-SHA256; a target answering 500 is retried with backoff and
// each attempt is in the delivery log; "send test" delivers; targets outside the allowlist
// are refused and secrets never come back.
func TestWebhooks(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	target := strings.TrimPrefix(srv.URL, "http://")
	base := startGuarded(t, func(c *config.Config) {
		c.NoDemo, c.WebhookHosts, c.WebhookRetryWait = true, []string{target}, 50*time.Millisecond
	})
	as := func(method, path string, body, out any) int {
		return apiAs(t, base, method, path, "admin", adminPassword, body, out)
	}
	if code := as("POST", "/api/v1/teams", map[string]string{"name": "team"}, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d", code)
	}
	const secret = "a shared webhook secret"
	ids := map[string]string{}
	for _, h := range []struct{ path, format string }{{"/json", "json"}, {"/ce", "cloudevents"}, {"/slack", "slack"}, {"/retry", "json"}} {
		var created api.WebhookCreated
		req := api.WebhookRequest{URL: srv.URL + h.path, Events: []string{"push"}, Format: h.format, Secret: secret}
		if code := as("POST", "/api/v1/namespaces/team/webhooks", req, &created); code != http.StatusCreated || created.Secret != "" {
			t.Fatalf("create webhook %s: %d %+v", h.path, code, created)
		}
		ids[h.path] = created.ID
	}
	scanHook := api.WebhookRequest{URL: srv.URL + "/scan", Events: []string{webhooks.EventScanFinished}, Secret: secret}
	if code := as("POST", "/api/v1/namespaces/team/webhooks", scanHook, nil); code != http.StatusCreated {
		t.Fatalf("create the scan.finished webhook: %d", code)
	}
	if code := as("POST", "/api/v1/namespaces/team/webhooks", api.WebhookRequest{URL: "http://10.1.2.3/hook", Events: []string{"push"}}, nil); code != http.StatusForbidden {
		t.Fatalf("a target outside the allowlist: %d, want 403", code)
	}
	var listed json.RawMessage
	as("GET", "/api/v1/namespaces/team/webhooks", nil, &listed)
	if !strings.Contains(string(listed), ids["/retry"]) || strings.Contains(string(listed), secret) || strings.Contains(strings.ToLower(string(listed)), `"secret"`) {
		t.Fatalf("the list shows secrets: %s", listed)
	}

	if ok, out := skopeoAs(t, "admin:"+adminPassword, ociImage(t, layered(t, randomLayer(t, 1024))), "docker://"+strings.TrimPrefix(base, "http://")+"/team/app:v1"); !ok {
		t.Fatalf("push: %s", out)
	}
	waitFor(t, "deliveries", 30*time.Second, func() bool {
		return len(rc.at("/json", "push")) > 0 && len(rc.at("/ce", "push")) > 0 && len(rc.at("/slack", "push")) > 0 && len(rc.at("/retry", "push")) >= 3
	})
	for _, path := range []string{"/json", "/ce", "/slack"} {
		g := rc.at(path, "push")[0]
		if g.signature != webhooks.Sign([]byte(secret), g.body) {
			t.Errorf("%s: signature %q does not match the body", path, g.signature)
		}
	}
	var ev webhooks.Event
	if err := json.Unmarshal(rc.at("/json", "push")[0].body, &ev); err != nil || ev.Repository != "team/app" || ev.Tag != "v1" || ev.Namespace != "team" || ev.Actor != "admin" {
		t.Errorf("JSON payload: %+v %v", ev, err)
	}
	ce := rc.at("/ce", "push")[0]
	var attrs map[string]any
	_ = json.Unmarshal(ce.body, &attrs)
	if !strings.HasPrefix(ce.contentType, "application/cloudevents+json") || attrs["specversion"] != "1.0" || attrs["type"] != "io.berth.push" ||
		attrs["id"] == "" || attrs["source"] == nil || attrs["subject"] != "team/app:v1" || attrs["datacontenttype"] != "application/json" || attrs["data"] == nil {
		t.Errorf("CloudEvent: %s %v", ce.contentType, attrs)
	}
	if _, err := time.Parse(time.RFC3339, attrs["time"].(string)); err != nil {
		t.Errorf("CloudEvent time: %v", err)
	}
	var slack map[string]any
	_ = json.Unmarshal(rc.at("/slack", "push")[0].body, &slack)
	if text, _ := slack["text"].(string); len(slack) != 1 || !strings.Contains(text, "team/app:v1") {
		t.Errorf("Slack message: %v", slack)
	}
	var log struct{ Deliveries []api.Delivery }
	waitFor(t, "the delivery log", 10*time.Second, func() bool {
		as("GET", "/api/v1/namespaces/team/webhooks/"+ids["/retry"]+"/deliveries", nil, &log)
		return len(log.Deliveries) >= 3
	})
	if d := log.Deliveries; d[0].Status != 200 || d[0].Attempt != 3 || d[1].Status != 500 || d[2].Status != 500 || d[2].Attempt != 1 {
		t.Errorf("delivery log after two 500s: %+v", d)
	}

	if code := as("POST", "/api/v1/namespaces/team/webhooks/"+ids["/slack"]+"/test", nil, nil); code != http.StatusAccepted {
		t.Fatalf("send test: %d", code)
	}
	waitFor(t, "the test delivery", 10*time.Second, func() bool { return len(rc.at("/slack", "test")) == 1 })

	// The push was scanned: a scan.finished event with the report's counts.
	waitFor(t, "the scan.finished delivery", 20*time.Second, func() bool { return len(rc.at("/scan", webhooks.EventScanFinished)) > 0 })
	var scanned webhooks.Event
	if err := json.Unmarshal(rc.at("/scan", webhooks.EventScanFinished)[0].body, &scanned); err != nil || scanned.Repository != "team/app" ||
		scanned.Namespace != "team" || !strings.HasPrefix(scanned.Digest, "sha256:") || scanned.Data["critical"] == nil {
		t.Errorf("scan.finished payload: %+v %v", scanned, err)
	}

	// A write job that fails in the namespace is a job.failed event.
	req := api.WebhookRequest{URL: srv.URL + "/failed", Events: []string{webhooks.EventJobFailed}, Format: "json", Secret: secret}
	if code := as("POST", "/api/v1/namespaces/team/webhooks", req, nil); code != http.StatusCreated {
		t.Fatalf("create the job.failed webhook: %d", code)
	}
	var started api.Job
	if code := as("POST", "/api/v1/jobs", api.JobRequest{Kind: api.JobCopy, Source: "team/app:missing", Destination: "team/copy:v1"}, &started); code != http.StatusAccepted {
		t.Fatalf("start a copy that fails: %d", code)
	}
	waitFor(t, "the job.failed delivery", 20*time.Second, func() bool { return len(rc.at("/failed", webhooks.EventJobFailed)) == 1 })
	var failed webhooks.Event
	if err := json.Unmarshal(rc.at("/failed", webhooks.EventJobFailed)[0].body, &failed); err != nil || failed.Namespace != "team" ||
		failed.Repository != "team/app" || failed.Actor != "admin" || failed.Data["job"] != started.ID || failed.Message == "" {
		t.Errorf("job.failed payload: %+v %v", failed, err)
	}
	if len(rc.at("/json", webhooks.EventJobFailed)) != 0 {
		t.Errorf("a webhook not subscribed to job.failed got it")
	}
}
