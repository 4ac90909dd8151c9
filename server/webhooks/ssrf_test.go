package webhooks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/store"
)

// names is a resolver answering from a table: the test's DNS.
type names map[string]string

func (n names) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := n[host]; ok {
		return []net.IPAddr{{IP: net.ParseIP(a)}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestTargetsOnInternalAddressesAreNeverDialled: with "*" (any public host) allowed, a
// webhook whose name resolves to a loopback, link-local (cloud metadata) or private address,
// or that names one literally, is refused at the dial — the service listening there gets
// nothing — and the delivery log says why without the target's answer.
func TestTargetsOnInternalAddressesAreNeverDialled(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(internal.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(internal.URL, "http://"))
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ws, err := store.WebhooksOf(st)
	if err != nil {
		t.Fatal(err)
	}
	dns := names{"hooks.test": "127.0.0.1", "metadata.test": "169.254.169.254", "lan.test": "10.1.2.3", "mapped.test": "::ffff:127.0.0.1"}
	s, err := New(Options{Store: ws, Secret: []byte("cluster secret for the test"), Hosts: []string{"*"}, Resolver: dns, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"http://hooks.test:" + port + "/x", "http://metadata.test:" + port + "/latest", "http://lan.test:" + port,
		"http://mapped.test:" + port, "http://127.0.0.1:" + port, "http://[::1]:" + port, "http://2130706433:" + port,
	} {
		created, err := s.Create(t.Context(), "admin", "", api.WebhookRequest{URL: target, Events: []string{EventTypes[0]}})
		if err != nil {
			continue // refused when created: as good
		}
		h, _, err := ws.Webhook(t.Context(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.deliver(t.Context(), h, Event{ID: "e-" + created.ID, Type: EventTypes[0]}, 1); err == nil || !strings.Contains(err.Error(), "internal address") && !strings.Contains(err.Error(), "no such host") {
			t.Errorf("%s: %v, want a refusal", target, err)
		}
		log, err := ws.Deliveries(t.Context(), created.ID, 10)
		if err != nil || len(log) != 1 || log[0].Status != 0 || log[0].Error == "" {
			t.Errorf("%s: delivery log %+v %v", target, log, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal service got %d requests", n)
	}
}
