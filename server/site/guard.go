package site

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	apiv1 "github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/httperr"
)

// guard is what every request passes before routing: a Host Berth answers to (DNS rebinding
// makes a page on another site reach a Berth on localhost under that site's name), a path
// without dot segments, empty segments or encoded separators (ServeMux would redirect them,
// and a proxy in front may resolve them differently than Berth), and the headers every
// response carries.
type guard struct {
	hosts   map[string]bool // lower-case host names, without port
	anyHost bool
	exempt  map[string]bool // paths reached by probes and registries by IP or service name
}

// newGuard returns the request guard for cfg. Host names are checked when Berth listens on
// loopback (the `make run` case DNS rebinding targets) or when the operator named its public
// URL or further hosts; loopback names are always accepted.
func newGuard(cfg config.Config) *guard {
	g := &guard{hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}, exempt: map[string]bool{
		"/healthz": true, "/readyz": true, "/metrics": true, cfg.EventsPath: true,
	}}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		g.hosts[strings.ToLower(u.Hostname())] = true
	}
	for _, h := range cfg.AllowedHosts {
		if h == "*" {
			g.anyHost = true
		}
		g.hosts[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	if cfg.PublicURL == "" && len(cfg.AllowedHosts) == 0 && !loopbackListen(cfg.Addr) {
		// Listening on a network address with no host named: every name is accepted (logged
		// at start), since probes and users reach Berth by IP, service or ingress name.
		g.anyHost = true
	}
	return g
}

func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (g *guard) allowedHost(hostport string) bool {
	if g.anyHost {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return g.hosts[strings.ToLower(strings.Trim(host, "[]"))]
}

// cleanPath reports whether the raw path has no dot or empty segments and no encoded slash,
// backslash, dot or NUL.
func cleanPath(raw string) bool {
	if !strings.HasPrefix(raw, "/") {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] == 0x7f {
			return false
		}
	}
	lower := strings.ToLower(raw)
	for _, bad := range []string{"%2f", "%5c", "%2e", "%00", "\\"} {
		if strings.Contains(lower, bad) {
			return false
		}
	}
	segs := strings.Split(raw[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." || (s == "" && i != len(segs)-1) {
			return false
		}
	}
	return true
}

func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		v2 := r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/")
		if !g.exempt[r.URL.Path] && !g.allowedHost(r.Host) {
			msg := "Berth does not answer to host " + clipHost(r.Host) + ": open it at its configured address (--public-url, --allowed-hosts)."
			if v2 {
				httperr.WriteRegistry(w, http.StatusBadRequest, "DENIED", msg, nil)
				return
			}
			httperr.Write(w, r, httperr.New(apiv1.CodeBadRequest, msg))
			return
		}
		if !cleanPath(r.URL.EscapedPath()) || !strings.HasPrefix(r.RequestURI, "/") {
			msg := "The path must not contain empty, . or .. segments or encoded separators."
			if v2 {
				httperr.WriteRegistry(w, http.StatusBadRequest, "NAME_INVALID", msg, nil)
				return
			}
			httperr.Write(w, r, httperr.New(apiv1.CodeBadRequest, msg))
			return
		}
		if !v2 && !strings.HasPrefix(r.URL.Path, "/api/") {
			// The UI: go-app runs its wasm (wasm-unsafe-eval) and its own scripts and styles
			// from this origin; nothing may frame it.
			h.Set("Content-Security-Policy", uiCSP)
			h.Set("X-Frame-Options", "DENY")
		} else {
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		next.ServeHTTP(w, r)
	})
}

// uiCSP is the UI's Content-Security-Policy. go-app's page loads app.js, wasm_exec.js and
// app.wasm from this origin and starts them with a small inline script, and components set
// inline styles; it talks to /api and /v2 on this origin (and to other origins only when the
// operator configured CORS for a static export, which is served elsewhere).
const uiCSP = "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: https:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

func clipHost(h string) string {
	if len(h) > 80 {
		h = h[:80] + "…"
	}
	return strings.ToValidUTF8(h, "?")
}
