package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestImportReportsProgressAndRefusals sends archives to a server that reads the whole body
// (or refuses it, as Berth does past --max-import-size) and checks what the UI is told.
func TestImportReportsProgressAndRefusals(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/imports" || r.URL.Query().Get("repository") != "team/app" || r.Header.Get("Content-Type") != "application/x-tar" {
			t.Errorf("request %s %s %q", r.Method, r.URL, r.Header.Get("Content-Type"))
		}
		if r.URL.Query().Get("tag") == "big" {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"error":{"code":"TOO_LARGE","message":"The archive is larger than 1 kB."}}`))
			return
		}
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(api.JobStarted{ID: "job-1"})
	}))
	defer srv.Close()
	c := New(srv.URL, false)

	body := bytes.Repeat([]byte("tar!"), 64<<10)
	var last, total int64
	id, err := c.Import(context.Background(), "team/app", "1.0", ReaderArchive{R: bytes.NewReader(body), N: int64(len(body))}, func(sent, all int64) {
		if sent < last {
			t.Errorf("progress went back from %d to %d", last, sent)
		}
		last, total = sent, all
	})
	if err != nil || id != "job-1" {
		t.Fatalf("import: %q, %v", id, err)
	}
	if !bytes.Equal(got, body) || last != int64(len(body)) || total != int64(len(body)) {
		t.Errorf("server got %d bytes; progress ended at %d of %d", len(got), last, total)
	}

	_, err = c.Import(context.Background(), "team/app", "big", ReaderArchive{R: bytes.NewReader(body), N: int64(len(body))}, nil)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusRequestEntityTooLarge || ae.Code != api.CodeTooLarge || ae.Message != "The archive is larger than 1 kB." {
		t.Errorf("refused import: %#v", err)
	}
}

// TestIndexImageFollowsTheStream reads an NDJSON indexing stream to its end, or its error.
func TestIndexImageFollowsTheStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/contents/team/app/-/image/1.0/index" || r.URL.Query().Get("platform") != "linux/arm64" {
			t.Errorf("request %s", r.URL)
		}
		enc := json.NewEncoder(w)
		_ = enc.Encode(api.IndexEvent{Type: "progress", Layer: 0, Read: 5, Size: 10})
		_ = enc.Encode(api.IndexEvent{Type: "layer", Layer: 0, Size: 10, Entries: 3})
		_ = enc.Encode(api.IndexEvent{Type: "error", Layer: 1, Code: string(api.CodeRegistryError), Error: "layer 1 is truncated or corrupt"})
	}))
	defer srv.Close()
	c := New(srv.URL, false)
	var events []string
	err := c.IndexImage(context.Background(), Image{Repository: "team/app", Reference: "1.0", Platform: "linux/arm64"}, func(e api.IndexEvent) {
		events = append(events, e.Type)
	})
	if api.ErrorCode(err) != api.CodeRegistryError || err.Error() != "layer 1 is truncated or corrupt" {
		t.Errorf("stream error: %v", err)
	}
	if len(events) != 3 || events[0] != "progress" || events[1] != "layer" || events[2] != "error" {
		t.Errorf("events %v", events)
	}
}
