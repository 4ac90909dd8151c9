package access

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseProxies turns --trusted-proxies entries, CIDRs or single addresses, into prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientAddr returns the address of the client that sent r; it is the one parser of
// X-Forwarded-For, so every throttle and audit entry keys on the same address. The direct
// peer is the client, unless it is a trusted proxy: then X-Forwarded-For is read from the
// right (each proxy appends the address it received from), skipping trusted proxies, and the
// first address that is not one is the client. Entries further left were written by the
// client itself and are never believed. An unreadable entry ends the walk at the proxy that
// passed it on.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseAddr(strings.TrimSpace(hops[i]))
		if !hop.IsValid() {
			break
		}
		client = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return client
}

// parseAddr reads "ip", "ip:port" or "[ip]:port"; the zero Addr when it is none of them.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type clientKey struct{}

// WithClient returns ctx carrying the client's address, for throttling and the audit log.
func WithClient(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientFrom returns the client address WithClient put into ctx (the zero Addr when none).
func ClientFrom(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientKey{}).(netip.Addr)
	return a
}

// ClientString is ClientFrom as text for logs and audit entries ("" when unknown).
func ClientString(ctx context.Context) string {
	if a := ClientFrom(ctx); a.IsValid() {
		return a.String()
	}
	return ""
}
