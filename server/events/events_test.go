package events_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const secret = "s3cret-token"

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// berth is a webhook with its metrics, served by a real HTTP server.
type berth struct {
	hook *events.Webhook
	reg  *prometheus.Registry
	mux  *http.ServeMux
}

func newBerth(t *testing.T, st store.Store, opts events.Options) *berth {
	t.Helper()
	b := &berth{reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	opts.Store, opts.Registerer = st, b.reg
	hook, err := events.NewWebhook(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hook.Close() })
	b.hook = hook
	b.mux.Handle("POST /events", hook)
	b.mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	a := events.NewAPI(st, readAll{})
	b.mux.HandleFunc("GET /api/v1/events", a.ServeEvents)
	b.mux.HandleFunc("GET /api/v1/stats", a.ServeStats)
	b.mux.HandleFunc("GET /api/v1/stats/{repo...}", a.ServeRepositoryStats)
	return b
}

// metric sums every series of a counter or histogram count named name.
func (b *berth) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			}
		}
	}
	return sum
}

// startRegistry runs the embedded registry notifying url, and returns its host:port.
func startRegistry(t *testing.T, notify string) string {
	t.Helper()
	var opts []embedded.Option
	if notify != "" {
		h := http.Header{"Authorization": {"Bearer " + secret}}
		opts = append(opts, embedded.WithNotifications("berth", notify, h, 2*time.Second, 200*time.Millisecond))
	}
	return strings.TrimPrefix(registrytest.Open(t, opts...), "http://")
}

func push(t *testing.T, ref string) v1.Hash {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func find(t *testing.T, st store.Store, f store.Filter, match func(store.Event) bool) (store.Event, bool) {
	t.Helper()
	evs, err := st.Events(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if match(e) {
			return e, true
		}
	}
	return store.Event{}, false
}

// TestRegistryNotifications pushes and pulls through the embedded registry, which notifies a
// real Berth webhook; the events must land with the right action, digest and tag.
func TestRegistryNotifications(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	host := startRegistry(t, web.URL+"/events")

	digest := push(t, host+"/team/app:v1")
	ref, _ := name.ParseReference(host+"/team/app:v1", name.Insecure)
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.RawManifest(); err != nil {
		t.Fatal(err)
	}

	var pushEv store.Event
	waitFor(t, "the push event", time.Minute, func() bool {
		var ok bool
		pushEv, ok = find(t, st, store.Filter{Repository: "team/app", Action: "push", ManifestsOnly: true}, func(e store.Event) bool { return e.Tag == "v1" })
		return ok
	})
	if pushEv.Digest != digest.String() || pushEv.Source != store.SourceWebhook || pushEv.RequestMethod != http.MethodPut {
		t.Errorf("push event = %+v, want digest %s from the webhook", pushEv, digest)
	}
	waitFor(t, "the pull event", time.Minute, func() bool {
		_, ok := find(t, st, store.Filter{Repository: "team/app", Action: "pull", ManifestsOnly: true}, func(e store.Event) bool {
			return e.Digest == digest.String() && e.RequestMethod == http.MethodGet
		})
		return ok
	})
	tags, err := st.Tags(t.Context())
	if err != nil || len(tags) != 1 || tags[0].Repository != "team/app" || tags[0].Tag != "v1" || tags[0].Digest != digest.String() || !tags[0].Updated.Equal(pushEv.Timestamp) {
		t.Errorf("tag state = %+v, %v", tags, err)
	}

	// The read API sees them too.
	resp, err := http.Get(web.URL + "/api/v1/events?repository=team/app")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page api.EventPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Events) < 2 {
		t.Fatalf("api events = %+v, %v", page, err)
	}
	resp2, err := http.Get(web.URL + "/api/v1/stats/team/app?range=7d")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var rs api.RepositoryStats
	if err := json.NewDecoder(resp2.Body).Decode(&rs); err != nil {
		t.Fatal(err)
	}
	if rs.Repository != "team/app" || rs.Bucket != "day" || len(rs.Counts) != 7 || rs.Counts[6].Pushes != 1 || rs.Counts[6].Pulls < 1 || rs.LastPush.IsZero() {
		t.Errorf("repository stats = %+v", rs)
	}
}

func envelope(ids ...string) []byte {
	var evs []map[string]any
	for _, id := range ids {
		evs = append(evs, map[string]any{
			"id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "action": "push",
			"target": map[string]any{
				"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + strings.Repeat("a", 64),
				"size": 100, "repository": "lib/x", "tag": "t-" + id,
				"references": []map[string]any{{"digest": "sha256:" + strings.Repeat("b", 64)}},
			},
			"request": map[string]any{"id": "r", "addr": "10.1.1.1:4000", "method": "PUT", "useragent": "docker/27"},
			"actor":   map[string]any{"name": "alice"},
			"source":  map[string]any{"addr": "reg:5000", "instanceID": "i-1"},
		})
	}
	b, _ := json.Marshal(map[string]any{"events": evs})
	return b
}

func post(t *testing.T, url, contentType, auth string, body []byte) (int, api.ErrorBody) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" {
			t.Errorf("status %d body %q is not an API error", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, eb
}

func count(t *testing.T, st store.Store) int {
	t.Helper()
	evs, err := st.Events(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestDuplicateDelivery(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	env := envelope("dup-1", "dup-2")
	for range 3 {
		if code, _ := post(t, web.URL+"/events", events.EnvelopeMediaTypeV1, "Bearer "+secret, env); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if n := count(t, st); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
	if d := b.metric(t, "berth_events_duplicates_total"); d != 4 {
		t.Errorf("duplicates metric = %v, want 4", d)
	}
	e, _ := find(t, st, store.Filter{}, func(e store.Event) bool { return e.ID == "dup-1" })
	if e.Actor != "alice" || e.RequestAddr != "10.1.1.1:4000" || e.SourceInstance != "i-1" || len(e.References) != 1 || e.Tag != "t-dup-1" {
		t.Errorf("stored event = %+v", e)
	}
}

func TestRejections(t *testing.T) {
	st := newStore(t)
	b := newBerth(t, st, events.Options{Secret: secret, MaxBody: 4096})
	web := httptest.NewServer(b.mux)
	t.Cleanup(web.Close)
	url := web.URL + "/events"
	good := "Bearer " + secret
	big := envelope(strings.Split(strings.Repeat("x,", 40), ",")[:40]...)
	tests := []struct {
		name, contentType, auth string
		body                    []byte
		status                  int
		code                    api.Code
	}{
		{"no token", events.EnvelopeMediaTypeV1, "", envelope("a"), 401, api.CodeUnauthorized},
		{"wrong token", events.EnvelopeMediaTypeV1, "Bearer nope", envelope("a"), 401, api.CodeUnauthorized},
		{"token prefix", events.EnvelopeMediaTypeV1, "Bearer " + secret[:4], envelope("a"), 401, api.CodeUnauthorized},
		{"basic scheme", events.EnvelopeMediaTypeV1, "Basic " + secret, envelope("a"), 401, api.CodeUnauthorized},
		{"too large", events.EnvelopeMediaTypeV1, good, big, 413, api.CodeTooLarge},
		{"media type", "text/plain", good, envelope("a"), 415, api.CodeUnsupportedMediaType},
		{"no media type", "", good, envelope("a"), 415, api.CodeUnsupportedMediaType},
		{"malformed", "application/json", good, []byte(`{"events":[{"id":`), 400, "MALFORMED_ENVELOPE"},
		{"no id", "application/json", good, []byte(`{"events":[{"id":"ok","action":"push"},{"action":"push"}]}`), 400, "MALFORMED_ENVELOPE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, eb := post(t, url, tc.contentType, tc.auth, tc.body)
			if code != tc.status || eb.Error.Code != tc.code {
				t.Errorf("got %d %s, want %d %s", code, eb.Error.Code, tc.status, tc.code)
			}
			if n := count(t, st); n != 0 {
				t.Errorf("%d events stored", n)
			}
		})
	}
	// A chunked body (no Content-Length) over the limit is cut off while read.
	req, _ := http.NewRequest(http.MethodPost, url, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", good)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize: %d", resp.StatusCode)
	}
	if r := b.metric(t, "berth_events_rejected_total"); r != float64(len(tests)+1) {
		t.Errorf("rejected metric = %v, want %d", r, len(tests)+1)
	}
	// v2 envelopes (distribution 3) and parameters on the media type are fine.
	if code, _ := post(t, url, events.EnvelopeMediaTypeV2+"; charset=utf-8", good, envelope("ok")); code != 200 {
		t.Errorf("v2 media type: %d", code)
	}
}
