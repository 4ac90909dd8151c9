// Package registrytest starts real distribution registries for tests: open, behind htpasswd
// Basic auth, or behind Bearer token auth with a token server of its own.
package registrytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
)

// Open starts a registry without auth and returns its base URL (http://127.0.0.1:port).
func Open(t testing.TB, opts ...embedded.Option) string {
	t.Helper()
	return Distribution3(t, opts...).URL
}

// Htpasswd starts a registry that requires Basic auth for users (name → password).
func Htpasswd(t testing.TB, users map[string]string) string {
	t.Helper()
	return Distribution3(t, embedded.WithHtpasswd(HtpasswdFile(t, users))).URL
}

// HtpasswdFile writes an htpasswd file (bcrypt) for users and returns its path.
func HtpasswdFile(t testing.TB, users map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	var b strings.Builder
	for u, p := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":" + string(hash) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Token starts a registry that requires Bearer tokens, and the token server that issues them
// to users (name → password) for whatever scope they ask, as a permissive auth server would.
func Token(t testing.TB, users map[string]string) string {
	t.Helper()
	return TokenACL(t, users, nil)
}

// TokenACL is Token with per-user limits: a user listed in acl gets repository scopes only for
// repositories under one of the listed prefixes ("team/" or an exact name); the registry
// itself then refuses the rest. The catalog scope is granted to everyone.
func TokenACL(t testing.TB, users map[string]string, acl map[string][]string) string {
	t.Helper()
	// The token server shares the registry's host:port, as go-containerregistry only follows
	// realms on private addresses when they are the registry itself.
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg, issue := tokenIssuer(t, users, acl, base+"/token")
	reg, err := embedded.New(context.Background(), t.TempDir(), embedded.WithTokenAuth(cfg.Realm, cfg.Service, cfg.Issuer, cfg.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/token", issue)
	mux.Handle("/", reg.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	return base
}

// TokenService starts a token server of its own issuing tokens to users (name → password)
// for whatever scope they ask, and returns the auth.token settings of a registry trusting
// it. Its realm names localhost rather than an IP, which go-containerregistry follows to
// another port.
func TokenService(t testing.TB, users map[string]string) TokenConfig {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	cfg, issue := tokenIssuer(t, users, nil, "http://localhost:"+port+"/token")
	srv.Config.Handler = issue
	srv.Start()
	t.Cleanup(srv.Close)
	return cfg
}

// tokenIssuer makes a signing key and its certificate bundle, and returns the auth.token
// settings for realm with the handler issuing tokens there.
func tokenIssuer(t testing.TB, users map[string]string, acl map[string][]string, realm string) (TokenConfig, http.Handler) {
	t.Helper()
	allowed := func(user, repo string) bool {
		prefixes, limited := acl[user]
		if !limited {
			return true
		}
		for _, p := range prefixes {
			if repo == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(repo, p)) {
				return true
			}
		}
		return false
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "berth test token signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "token.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := TokenConfig{Realm: realm, Service: "berth-test-registry", Issuer: "berth-test-issuer", Bundle: bundle}
	kid := token.GetJWKThumbprint(&key.PublicKey)
	issue := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		want, known := users[user]
		if !ok || !known || subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
			return
		}
		access := []map[string]any{}
		for _, scope := range r.URL.Query()["scope"] {
			for _, one := range strings.Split(scope, " ") {
				parts := strings.Split(one, ":")
				if len(parts) < 3 {
					continue
				}
				n := len(parts)
				if parts[0] == "repository" && !allowed(user, strings.Join(parts[1:n-1], ":")) {
					continue
				}
				access = append(access, map[string]any{
					"type":    parts[0],
					"name":    strings.Join(parts[1:n-1], ":"),
					"actions": strings.Split(parts[n-1], ","),
				})
			}
		}
		var jti [8]byte
		_, _ = rand.Read(jti[:])
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": cfg.Issuer, "sub": user, "aud": cfg.Service,
			"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
			"jti": hex.EncodeToString(jti[:]), "access": access,
		})
		// Distribution 2.8 checks the certificate (x5c) against its bundle; 3 takes kid too.
		tok.Header["kid"] = kid
		tok.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(der)}
		signed, err := tok.SignedString(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": signed, "access_token": signed, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
	})
	return cfg, issue
}

// NewClient returns a registry client for opts, failing the test if opts are wrong. Test
// clients act for the principal in each context (PerUser) and may write without one.
func NewClient(t testing.TB, opts registry.Options) *registry.Client {
	t.Helper()
	opts.PerUser, opts.ServiceWrites = true, true
	c, err := registry.New(opts)
	if err != nil {
		t.Fatalf("registry client for %s: %v", opts.URL, err)
	}
	return c
}
