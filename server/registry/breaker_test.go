package registry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestBreakerOpensOnAHungRegistry hangs a registry (it takes requests and never answers): the
// first requests cost the timeout, then the breaker answers 503 REGISTRY_UNAVAILABLE at once,
// well inside a quarter of the timeout, and once the registry answers again so does Berth.
func TestBreakerOpensOnAHungRegistry(t *testing.T) {
	real, _ := url.Parse(registrytest.Open(t))
	forward := httputil.NewSingleHostReverseProxy(real)
	var hung atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Load() {
			<-r.Context().Done() // taken, never answered
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	const timeout = 2 * time.Second
	c, err := registry.New(registry.Options{URL: up.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog(t.Context()); err != nil {
		t.Fatalf("with the registry up: %v", err)
	}

	hung.Store(true)
	for i := 0; c.NotAnsweringSince().IsZero(); i++ {
		if i == 10 {
			t.Fatal("the breaker did not open after 10 timeouts")
		}
		if _, err := c.Tags(t.Context(), "library/alpine"); !httperr.Is(err, api.CodeRegistryTimeout) {
			t.Fatalf("a hung registry: %v, want REGISTRY_TIMEOUT", err)
		}
	}
	for range 5 {
		start := time.Now()
		_, err := c.Tags(t.Context(), "library/alpine")
		took := time.Since(start)
		var he *httperr.Error
		if !httperr.Is(err, api.CodeRegistryUnavailable) || !asError(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Fatalf("breaker open: %v, want 503 REGISTRY_UNAVAILABLE", err)
		}
		if took > timeout/4 {
			t.Errorf("breaker open: answered after %s, more than a quarter of the %s timeout", took, timeout)
		}
	}
	if err := c.Ping(t.Context()); !httperr.Is(err, api.CodeRegistryUnavailable) {
		t.Errorf("ping with the breaker open: %v", err)
	}

	hung.Store(false)
	deadline := time.Now().Add(time.Minute)
	for !c.NotAnsweringSince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not close once the registry answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Tags(t.Context(), "library/alpine"); err != nil && !httperr.Is(err, api.CodeNotFound) {
		t.Errorf("after the registry came back: %v", err)
	}
}

// TestBreakerIgnoresCallersGivingUp: requests cancelled by their callers say nothing of the
// registry and never open the breaker.
func TestBreakerIgnoresCallersGivingUp(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(up.Close)
	c, err := registry.New(registry.Options{URL: up.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, _ = c.Tags(ctx, "library/alpine")
	}
	if !c.NotAnsweringSince().IsZero() {
		t.Error("cancelled requests opened the breaker")
	}
}

func asError(err error, target **httperr.Error) bool { return errors.As(err, target) }

// TestBreakerIgnoresBudgetsOfABusyRegistry: requests whose callers' own deadlines run out
// while the registry answers other requests (a prerender's budget on a slow repository) do not
// open the breaker; a registry answering nothing still does.
func TestBreakerIgnoresBudgetsOfABusyRegistry(t *testing.T) {
	real, _ := url.Parse(registrytest.Open(t))
	forward := httputil.NewSingleHostReverseProxy(real)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/slow/app/tags/list" {
			<-r.Context().Done() // this one never comes in time
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	c, err := registry.New(registry.Options{URL: up.URL, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Five callers whose budgets run out together, while the registry answers another.
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { _, _ = c.Tags(ctx, "slow/app") })
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := c.Catalog(t.Context()); err != nil { // answered meanwhile
		t.Fatal(err)
	}
	wg.Wait()
	if !c.NotAnsweringSince().IsZero() {
		t.Error("budgets running out on a registry that answered meanwhile opened the breaker")
	}
}
