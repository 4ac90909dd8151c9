package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestStartJobRetriesWithOneKey: a start whose connection broke, then one answered 503, are
// sent again with the same Idempotency-Key until Berth takes it; a refusal is not retried.
func TestStartJobRetriesWithOneKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		switch n {
		case 1: // the replica died mid-request
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"STORE_UNAVAILABLE","message":"The job store failed"}}`))
		case 3:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"42"}`))
		default:
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"CONFLICT","message":"taken"}}`))
		}
	}))
	defer srv.Close()
	c := New(srv.URL, false)
	id, err := c.StartJob(context.Background(), api.JobRequest{Kind: api.JobRetag})
	if err != nil || id != "42" {
		t.Fatalf("start: %q %v", id, err)
	}
	if len(keys) != 3 || keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Errorf("keys sent %q, want one key three times", keys)
	}
	if _, err := c.StartJob(context.Background(), api.JobRequest{Kind: api.JobRetag}); api.ErrorCode(err) != api.CodeConflict || len(keys) != 4 {
		t.Errorf("a refusal: %v after %d requests, want CONFLICT without a retry", err, len(keys))
	}
	if keys[3] == keys[0] {
		t.Error("a new start reused the key")
	}
}
