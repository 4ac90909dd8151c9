package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/server/events"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// FuzzDecodeEnvelope feeds the webhook's decoder arbitrary bodies (seeds in
// testdata/fuzz/FuzzDecodeEnvelope: distribution's envelopes and the poisons found so far).
// It must never panic, and whatever it accepts must be storable as is: a known action, a
// valid repository and tag, digests of a known algorithm at its length and alphabet, no NUL
// bytes, bounded fields and a timestamp inside the store's range.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(marshal(event("seed")))
	f.Add([]byte(`{"events":[{"id":"a","action":"push","target":{"repository":"x"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := events.DecodeEnvelope(body)
		if err != nil {
			if evs != nil {
				t.Fatalf("events returned with error %v", err)
			}
			return
		}
		for _, e := range evs {
			checkStorable(t, e)
		}
	})
}

func checkStorable(t *testing.T, e store.Event) {
	t.Helper()
	switch e.Action {
	case store.ActionPush, store.ActionPull, store.ActionDelete, store.ActionMount:
	default:
		t.Fatalf("accepted action %q", e.Action)
	}
	if e.ID == "" || len(e.ID) > 256 || e.Source != store.SourceWebhook {
		t.Fatalf("accepted id %q, source %q", e.ID, e.Source)
	}
	if err := registry.ValidateRepository(e.Repository); err != nil {
		t.Fatalf("accepted repository: %v", err)
	}
	if e.Tag != "" {
		if err := registry.ValidateTag(e.Tag); err != nil {
			t.Fatalf("accepted tag: %v", err)
		}
	}
	for _, d := range append([]string{e.Digest}, e.References...) {
		if d != "" && digest.Digest(d).Validate() != nil {
			t.Fatalf("accepted digest %q", d)
		}
	}
	for _, s := range []string{e.ID, e.Action, e.Repository, e.Tag, e.Digest, e.MediaType, e.URL, e.Actor,
		e.RequestID, e.RequestAddr, e.RequestHost, e.RequestMethod, e.UserAgent, e.SourceAddr, e.SourceInstance} {
		if strings.IndexByte(s, 0) >= 0 || len(s) > 2048 {
			t.Fatalf("accepted a field with a NUL byte or %d bytes", len(s))
		}
	}
	if e.Size < 0 || e.Length < 0 {
		t.Fatalf("accepted size %d, length %d", e.Size, e.Length)
	}
	if e.Timestamp.Year() < 2000 || e.Timestamp.After(time.Now().Add(25*time.Hour)) || e.Timestamp.Location() != time.UTC {
		t.Fatalf("accepted timestamp %v", e.Timestamp)
	}
}
