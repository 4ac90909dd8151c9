// Package registry is the only place Berth talks to a registry: the registry's address, who is
// asking (the principal carried in the context), credential checks, the HTTP transport with
// its timeouts and retry policy, the translation of registry and transport errors into Berth's
// errors, the validation of repository names and references, and the walks several features
// share (every tag with its digest, referrers). catalog, ops, events, session, charts,
// contents and the CLI reach registries through it and nothing else.
package registry

import (
	"fmt"
	"net/url"
	"strings"
)

// Address is a registry's base URL: a scheme and a host[:port], nothing else.
type Address struct {
	// Scheme is http or https.
	Scheme string
	// Host is host or host:port.
	Host string
}

// ParseAddress parses a registry base URL such as https://registry.example.com or
// http://127.0.0.1:5000. A path, query, fragment or user info is refused: credentials have
// their own flags, and a path would be silently dropped by registry clients.
func ParseAddress(raw string) (Address, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Address{}, fmt.Errorf("registry URL %q must look like http://host:port or https://host", ShownURL(raw))
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Address{}, fmt.Errorf("registry URL %q must be only a scheme and a host (no path, query or credentials)", ShownURL(raw))
	}
	return Address{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}, nil
}

// ShownURL is raw as messages and logs may show it: without user info, query or fragment
// (where credentials and tokens ride), clipped.
func ShownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	s := u.String()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// String returns the base URL, scheme://host.
func (a Address) String() string { return a.Scheme + "://" + a.Host }

// Insecure reports whether the registry is reached over plain HTTP.
func (a Address) Insecure() bool { return a.Scheme == "http" }

// Hostname is the host without its port.
func (a Address) Hostname() string {
	u := url.URL{Host: a.Host}
	return u.Hostname()
}
