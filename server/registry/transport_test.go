package registry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/registry"
)

// fakeDNS resolves test names to fixed addresses; nothing is ever looked up for real.
type fakeDNS map[string][]string

func (f fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, a := range f[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestPublic(t *testing.T) {
	for ip, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.0.0.5": false, "172.16.3.4": false, "172.31.255.255": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false,
		"fd00::1": false, "::ffff:10.0.0.1": false, "::ffff:127.0.0.1": false, "224.0.0.1": false, "64:ff9b::a00:1": false,
	} {
		if got := registry.Public(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Public(%s) = %v, want %v", ip, got, want)
		}
	}
}

// TestDialGuardRefusesInternalAddresses dials names that resolve to private, link-local and
// loopback addresses: each is refused by the guard itself, before a connection is tried.
func TestDialGuardRefusesInternalAddresses(t *testing.T) {
	dns := fakeDNS{
		"private.test":  {"10.0.0.5"},
		"metadata.test": {"169.254.169.254"},
		"loop.test":     {"127.0.0.1"},
		"mixed.test":    {"93.184.216.34", "192.168.1.10"},
		"rebind.test":   {"::ffff:172.16.0.1"},
		"public.test":   {"93.184.216.34"},
		"allowed.test":  {"10.9.9.9"},
	}
	guard := registry.NewDialGuard([]string{"allowed.test"}, dns)
	tr := registry.NewTransport(time.Second, guard)
	for _, host := range []string{"private.test", "metadata.test", "loop.test", "mixed.test", "rebind.test", "10.1.2.3", "[fd00::1]"} {
		_, err := tr.DialContext(context.Background(), "tcp", net.JoinHostPort(strings.Trim(host, "[]"), "443"))
		if !errors.Is(err, registry.ErrBlockedAddress) {
			t.Errorf("dial %s: %v, want ErrBlockedAddress", host, err)
		}
	}
}

// hits counts the requests a server got.
func hits(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestAttackerRegistry plays a hostile registry that is on the allowlist: it redirects by
// host name to an internal service, points its token realm there, sends huge error bodies and
// stalls. Nothing internal is reached, nothing of its bodies is echoed, and every call ends
// within the client's timeout.
func TestAttackerRegistry(t *testing.T) {
	internal, internalHits := hits(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"token":"secret-internal-data"}`))
	}))
	_, internalPort, _ := net.SplitHostPort(strings.TrimPrefix(internal.URL, "http://"))
	secretURL := "http://internal.test:" + internalPort

	huge := strings.Repeat("INTERNAL-BODY ", 1<<16)
	attacker, _ := hits(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(r.URL.Path, "/v2/redirect/"):
			http.Redirect(w, r, secretURL+"/admin", http.StatusTemporaryRedirect)
		case strings.HasPrefix(r.URL.Path, "/v2/realm/"):
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+secretURL+`/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasPrefix(r.URL.Path, "/v2/huge/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"` + huge + `"}]}`))
		case strings.HasPrefix(r.URL.Path, "/v2/slow/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		default:
			http.NotFound(w, r)
		}
	}))
	attackerHost := strings.TrimPrefix(attacker.URL, "http://")
	dns := fakeDNS{"internal.test": {"127.0.0.1"}}
	guard := registry.NewDialGuard([]string{attackerHost}, dns)
	c, err := registry.New(registry.Options{
		URL: attacker.URL, Transport: registry.NewTransport(time.Second, guard), Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, repo := range []string{"redirect/app", "realm/app", "huge/app", "slow/app"} {
		start := time.Now()
		_, err := c.Get(ctx, repo, "v1")
		took := time.Since(start)
		var he *httperr.Error
		if !errors.As(err, &he) {
			t.Fatalf("%s: %v, want a Berth error", repo, err)
		}
		if strings.Contains(he.Message, "INTERNAL-BODY") || strings.Contains(he.Message, "secret-internal-data") || len(he.Message) > 400 {
			t.Errorf("%s: message echoes the registry: %.200q…", repo, he.Message)
		}
		if took > 10*time.Second {
			t.Errorf("%s: took %s with a 2 s timeout", repo, took)
		}
		if repo == "slow/app" && he.Code != api.CodeRegistryTimeout {
			t.Errorf("slow body: %s %q, want REGISTRY_TIMEOUT", he.Code, he.Message)
		}
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal service got %d requests through redirects or token realms", n)
	}
}
