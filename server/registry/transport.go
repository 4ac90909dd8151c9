package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// NewTransport returns the transport for registry requests: every phase up to the response
// headers bounded by timeout, connections pooled for concurrent fan-out, no transparent
// decompression (blobs pass through byte for byte). With a guard, every dial — the registry's,
// a redirect's, a token realm's — goes through it.
func NewTransport(timeout time.Duration, guard *DialGuard) *http.Transport {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
	}
	if guard != nil {
		t.Proxy = nil // a proxy would dial on Berth's behalf where the guard cannot see
		t.DialContext = guard.dialer(dialer)
	}
	return t
}

// Resolver looks up a host's addresses; *net.Resolver is one, tests use their own.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// DialGuard keeps Berth from being used to reach internal services (SSRF): a host the operator
// allowlisted is dialed as is; any other host is resolved first and dialed only if every one
// of its addresses is public — not loopback, private, link-local, unspecified, multicast or
// otherwise special. The check runs on the resolved address and the connection goes to that
// very address, so a DNS answer that changes between check and dial cannot slip past.
type DialGuard struct {
	allowed  map[string]bool // lower-case host names and host:port
	resolver Resolver
}

// NewDialGuard returns a guard allowing hosts (host or host:port) through unchecked;
// resolver nil means the system's.
func NewDialGuard(hosts []string, resolver Resolver) *DialGuard {
	g := &DialGuard{allowed: map[string]bool{}, resolver: resolver}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	for _, h := range hosts {
		g.allowed[strings.ToLower(h)] = true
	}
	return g
}

// ErrBlockedAddress is the error of a dial the guard refused.
var ErrBlockedAddress = errors.New("refused to connect to an internal address")

func (g *DialGuard) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if g.allowed[strings.ToLower(host)] || g.allowed[strings.ToLower(addr)] {
			return d.DialContext(ctx, network, addr)
		}
		ips, err := g.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// resolve returns host's addresses, refusing if any is not public: a name that resolves to
// both a public and an internal address is refused as a whole.
func (g *DialGuard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		addrs, err := g.resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if ok {
				ips = append(ips, ip.Unmap())
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s: no addresses", host)
		}
	}
	for _, ip := range ips {
		if !Public(ip) {
			return nil, fmt.Errorf("%s (%s): %w", host, ip, ErrBlockedAddress)
		}
	}
	return ips, nil
}

// Public reports whether ip is an ordinary internet address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// special lists further ranges that are not the public internet: shared address space
// (carrier NAT), IETF protocol assignments, documentation, benchmarking, reserved, NAT64 and
// 6to4 (which embed IPv4 addresses), and IPv6 unique-local/site-local.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001:db8::/32", "fc00::/7", "fec0::/10", "::/128",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()
