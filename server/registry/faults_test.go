package registry_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestBreakerOnAStoppedThenKilledRegistry runs Debian's docker-registry (distribution 2.8) as
// a process and does to it what an outage does: SIGSTOP (connections are taken by the
// kernel, never answered), SIGCONT, then SIGKILL (connections refused). Each time the
// breaker opens after a few failures, and then every request is answered at once with 503.
func TestBreakerOnAStoppedThenKilledRegistry(t *testing.T) {
	reg := registrytest.Distribution28(t, registrytest.Config28{})
	const timeout = 2 * time.Second
	c, err := registry.New(registry.Options{URL: reg.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog(t.Context()); err != nil {
		t.Fatalf("with the registry up: %v", err)
	}
	open := func(what string) {
		t.Helper()
		for i := 0; c.NotAnsweringSince().IsZero(); i++ {
			if i == 10 {
				t.Fatalf("%s: the breaker did not open after 10 failures", what)
			}
			if _, err := c.Tags(t.Context(), "library/alpine"); err == nil {
				t.Fatalf("%s: a tag list was answered", what)
			}
		}
		for range 3 {
			start := time.Now()
			_, err := c.Tags(t.Context(), "library/alpine")
			var he *httperr.Error
			if !httperr.Is(err, api.CodeRegistryUnavailable) || !asError(err, &he) || he.Status != http.StatusServiceUnavailable {
				t.Fatalf("%s, breaker open: %v, want 503 REGISTRY_UNAVAILABLE", what, err)
			}
			if took := time.Since(start); took > timeout/4 {
				t.Errorf("%s, breaker open: answered after %s, over a quarter of the %s timeout", what, took, timeout)
			}
		}
	}

	if err := reg.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	open("stopped")
	if err := reg.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !c.NotAnsweringSince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not close once the registry ran again")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Catalog(t.Context()); err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}

	if err := reg.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	open("killed")
}
