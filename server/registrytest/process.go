package registrytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/embedded"
)

// Registry is a registry started for a test: where it answers and where it stores.
type Registry struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	// Host is URL's host:port.
	Host string
	// Root is the filesystem driver's root directory, for checks the API cannot make
	// (upload sessions left behind).
	Root string
	// Process is the registry's own process (Distribution28), for fault tests that stop or
	// kill it; nil for an in-process registry.
	Process *os.Process
}

// TokenConfig is distribution's auth.token section: where clients get tokens and whom the
// registry trusts to sign them.
type TokenConfig struct {
	Realm, Service, Issuer string
	// Bundle is a PEM file with the signer's certificate.
	Bundle string
}

// Config28 configures Distribution28. The zero value is an open registry with deletes on.
type Config28 struct {
	// Htpasswd, when set, requires Basic auth for these users (name → password).
	Htpasswd map[string]string
	// Token, when set, requires Bearer tokens from Token.Realm.
	Token *TokenConfig
	// NoDelete turns storage.delete.enabled off.
	NoDelete bool
	// Notify, when set, sends the registry's events to this URL with Authorization: Bearer
	// NotifyToken.
	Notify, NotifyToken string
}

// Distribution28 starts Debian's docker-registry (distribution 2.8, the registry:2 image) as a
// process of its own and returns it once it answers. Without the package the test is skipped,
// or fails under BERTH_E2E=1 (CI installs it).
func Distribution28(t testing.TB, c Config28) Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("BERTH_E2E") == "1" {
			t.Fatal("docker-registry not installed (Debian's docker-registry package); BERTH_E2E=1 requires it")
		}
		t.Skip("docker-registry not installed (Debian's docker-registry package)")
	}
	// The port is free when picked but may be taken before docker-registry binds it (it then
	// exits); retry on another.
	var lastErr error
	for range 3 {
		r, err := try28(t, bin, c)
		if err == nil {
			return r
		}
		lastErr = err
	}
	t.Fatalf("start docker-registry: %v", lastErr)
	return Registry{}
}

// try28 starts docker-registry on a free port once; an error says it exited or never answered.
func try28(t testing.TB, bin string, c Config28) (Registry, error) {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(config28(t, dir, addr, c)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	// The registry's REGISTRY_* variables would override the file.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", out.String())
		}
	})
	if err := waitAnswers("http://"+addr, exited); err != nil {
		return Registry{}, fmt.Errorf("%w:\n%s", err, out.String())
	}
	return Registry{URL: "http://" + addr, Host: addr, Root: filepath.Join(dir, "data"), Process: cmd.Process}, nil
}

// config28 writes docker-registry's config.yml for c.
func config28(t testing.TB, dir, addr string, c Config28) string {
	t.Helper()
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: %t
http:
  addr: %s
  secret: %s
`, filepath.Join(dir, "data"), !c.NoDelete, addr, hex.EncodeToString(secret[:]))
	switch {
	case c.Token != nil:
		fmt.Fprintf(&b, "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			c.Token.Realm, c.Token.Service, c.Token.Issuer, c.Token.Bundle)
	case c.Htpasswd != nil:
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", HtpasswdFile(t, c.Htpasswd))
	}
	if c.Notify != "" {
		fmt.Fprintf(&b, `notifications:
  endpoints:
    - name: berth
      url: %s
      headers:
        Authorization: [Bearer %s]
      timeout: 5s
      threshold: 3
      backoff: 100ms
`, c.Notify, c.NotifyToken)
	}
	return b.String()
}

// waitAnswers waits until base/v2/ answers 200 or 401; an error says the process exited first
// or a minute passed.
func waitAnswers(base string, exited <-chan struct{}) error {
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("docker-registry on %s exited", base)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("docker-registry did not answer on %s within a minute", base)
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Distribution3 starts the embedded registry (distribution 3) in the test process and returns
// it with its storage root.
func Distribution3(t testing.TB, opts ...embedded.Option) Registry {
	t.Helper()
	return Wrapped(t, func(h http.Handler) http.Handler { return h }, opts...)
}

// Wrapped is Distribution3 served through wrap: a test's middleware that slows, counts or
// refuses requests.
func Wrapped(t testing.TB, wrap func(http.Handler) http.Handler, opts ...embedded.Option) Registry {
	t.Helper()
	root := t.TempDir()
	reg, err := embedded.New(context.Background(), root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wrap(reg.Handler()))
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	return Registry{URL: srv.URL, Host: strings.TrimPrefix(srv.URL, "http://"), Root: root}
}

// UploadSessions lists the upload sessions a registry's storage still holds: directories
// under a repository's _uploads with data or a start time. Distribution 2.8 and 3 leave a
// cancelled upload's hash state file behind (written after the DELETE removed the session),
// which no longer is a session: the registry answers 404 for it and holds none of its bytes.
func (r Registry) UploadSessions(t testing.TB) []string {
	t.Helper()
	var open []string
	err := filepath.WalkDir(r.Root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		parent := filepath.Base(filepath.Dir(filepath.Dir(path)))
		if !d.IsDir() && parent == "_uploads" && (d.Name() == "data" || d.Name() == "startedat") {
			open = append(open, filepath.Dir(path))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	slices.Sort(open)
	return slices.Compact(open)
}

// RefuseCatalog puts a reverse proxy in front of the registry at base that answers
// /v2/_catalog with status, as GitLab, GHCR and Harbor (to non-administrators) do, and
// returns the proxy's base URL.
func RefuseCatalog(t testing.TB, base string, status int) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"errors":[{"code":"DENIED","message":"catalog refused by the test proxy"}]}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
