package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/store"
)

// TestRegistriesDecide runs real registries with token auth that trust only Berth's
// certificate — distribution v3 embedded, and Debian's docker-registry 2.8 as a process —
// and real clients (go-containerregistry, skopeo) with passwords, robot secrets, personal
// access tokens and refresh tokens. Every allow and refuse below is the registry's answer to
// the token Berth issued.
func TestRegistriesDecide(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(f *fixture, t *testing.T) string
	}{
		{"distribution-v3-embedded", (*fixture).embeddedRegistry},
		{"docker-registry-2.8-process", (*fixture).dockerRegistry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			host := tc.start(f, t)
			exercise(t, f, host)
		})
	}
}

func basic(user, secret string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: secret}
}

func ref(t *testing.T, host, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func push(ctx context.Context, t *testing.T, host, to string, a authn.Authenticator) error {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(ref(t, host, to), img, remote.WithAuth(a), remote.WithContext(ctx))
}

func pull(ctx context.Context, t *testing.T, host, from string, a authn.Authenticator) error {
	t.Helper()
	img, err := remote.Image(ref(t, host, from), remote.WithAuth(a), remote.WithContext(ctx))
	if err != nil {
		return err
	}
	_, err = img.ConfigFile() // the blob too, not just the manifest
	return err
}

// refused fails unless err is the registry refusing (401 or 403) — not a network failure.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	var te *transport.Error
	if err == nil {
		t.Errorf("%s: allowed, want refused", what)
		return
	}
	if !errors.As(err, &te) || (te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden) {
		t.Errorf("%s: %v, want the registry's (or token service's) 401/403", what, err)
	}
}

func allowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want allowed", what, err)
	}
}

func exercise(t *testing.T, f *fixture, host string) {
	ctx := t.Context()
	dev, vic, eve := basic("dev", pw), basic("vic", pw), basic("eve", pw)

	// Passwords: the developer pushes, the viewer pulls but cannot push, a stranger nothing.
	allowed(t, "developer pushes web/app:1", push(ctx, t, host, "web/app:1", dev))
	allowed(t, "viewer pulls web/app:1", pull(ctx, t, host, "web/app:1", vic))
	refused(t, "viewer pushes web/app:2", push(ctx, t, host, "web/app:2", vic))
	refused(t, "stranger pulls web/app:1", pull(ctx, t, host, "web/app:1", eve))
	refused(t, "anonymous pulls web/app:1", pull(ctx, t, host, "web/app:1", authn.Anonymous))
	allowed(t, "stranger pushes to her own namespace", push(ctx, t, host, "eve/tool:1", eve))
	refused(t, "developer pushes to someone else's namespace", push(ctx, t, host, "eve/tool:2", dev))

	// Public namespace: the root pushes, anyone pulls, nobody else pushes.
	allowed(t, "admin pushes pub/base:1", push(ctx, t, host, "pub/base:1", basic("root", pw)))
	allowed(t, "anonymous pulls public pub/base:1", pull(ctx, t, host, "pub/base:1", authn.Anonymous))
	refused(t, "anonymous pushes pub/base:2", push(ctx, t, host, "pub/base:2", authn.Anonymous))
	refused(t, "stranger pushes pub/base:2", push(ctx, t, host, "pub/base:2", eve))

	// A robot: its namespace only.
	robot := basic("robot$web+ci", f.robot)
	allowed(t, "robot pushes web/app:ci", push(ctx, t, host, "web/app:ci", robot))
	refused(t, "robot pushes pub/base:ci", push(ctx, t, host, "pub/base:ci", robot))
	refused(t, "robot secret under another name", pull(ctx, t, host, "web/app:1", basic("robot$web+other", f.robot)))

	// A personal access token as the password.
	pat := basic("dev", f.pat)
	allowed(t, "personal token pushes web/app:pat", push(ctx, t, host, "web/app:pat", pat))

	// Deletes: the maintainer may, the developer may not.
	digestRef := func(tag string) name.Reference {
		d, err := remote.Head(ref(t, host, "web/app:"+tag), remote.WithAuth(basic("max", pw)), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("head web/app:%s: %v", tag, err)
		}
		return ref(t, host, "web/app@"+d.Digest.String())
	}
	refused(t, "developer deletes a manifest", remote.Delete(digestRef("pat"), remote.WithAuth(dev), remote.WithContext(ctx)))
	allowed(t, "maintainer deletes a manifest", remote.Delete(digestRef("pat"), remote.WithAuth(basic("max", pw)), remote.WithContext(ctx)))

	// The catalog: administrators only.
	_, err := remote.Catalog(ctx, mustRegistry(t, host), remote.WithAuth(basic("root", pw)))
	allowed(t, "admin lists the catalog", err)
	_, err = remote.Catalog(ctx, mustRegistry(t, host), remote.WithAuth(dev))
	refused(t, "developer lists the catalog", err)

	// skopeo, as a separate client: copy within the registry with a password, a robot
	// secret; a viewer's copy is refused by the registry.
	skopeo(t, host, "dev:"+pw, "dev:"+pw, "web/app:1", "web/app:skopeo", true)
	skopeo(t, host, "vic:"+pw, "robot$web+ci:"+f.robot, "web/app:1", "web/app:skopeo-robot", true)
	skopeo(t, host, "vic:"+pw, "vic:"+pw, "web/app:1", "web/app:skopeo-viewer", false)

	// Tokens the registry must refuse: signed by a key it does not trust, or expired.
	rawRefused(t, host, foreignToken(t), "a token signed by a foreign key")
	expired := f.c.Issuer
	expired.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	tok, err := expired.Issue(ctx, "dev", []auth.Access{{Type: "repository", Name: "web/app", Actions: []string{"pull"}}})
	expired.SetClock(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	rawRefused(t, host, tok.Raw, "an expired token")
	fresh, err := f.c.Issuer.Issue(ctx, "dev", []auth.Access{{Type: "repository", Name: "web/app", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	if code := rawGet(t, host, fresh.Raw); code != http.StatusOK {
		t.Errorf("a fresh token for the same scope: %d, want 200", code)
	}

	// Refresh tokens (docker login's): from a password once, then used instead of it.
	code, tr, _ := f.getToken(t, "dev", pw, url.Values{"offline_token": {"true"}, "client_id": {"test"}}, "repository:web/app:pull")
	if code != http.StatusOK || !strings.HasPrefix(tr.RefreshToken, auth.RefreshPrefix) {
		t.Fatalf("offline token: %d %+v", code, tr)
	}
	refresh := authn.FromConfig(authn.AuthConfig{IdentityToken: tr.RefreshToken})
	allowed(t, "refresh token pulls web/app:1", pull(ctx, t, host, "web/app:1", refresh))

	// Revoking the personal token, then disabling dev: both stop at once.
	if err := f.c.Accounts.RevokePAT(ctx, "dev", "dev", f.patID); err != nil {
		t.Fatal(err)
	}
	refused(t, "revoked personal token", pull(ctx, t, host, "web/app:1", pat))
	disabled := true
	if err := f.c.Accounts.UpdateUser(ctx, "root", "dev", auth.UserChange{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	refused(t, "disabled user's password", pull(ctx, t, host, "web/app:1", dev))
	// A refused grant is OAuth2's 400 invalid_grant (RFC 6749 5.2), not a 401.
	err = pull(ctx, t, host, "web/app:1", refresh)
	if te, ok := errors.AsType[*transport.Error](err); !ok || te.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("disabled user's refresh token: %v, want 400 invalid_grant", err)
	}

	// Everything above is in the audit log: refusals too.
	entries, err := f.st.Audit(ctx, store.AuditFilter{Actor: "vic", Action: auth.AuditToken})
	if err != nil {
		t.Fatal(err)
	}
	partial := false
	for _, e := range entries {
		partial = partial || (strings.Contains(e.Scope, "push") && !strings.Contains(e.Granted, "push") && e.Addr != "")
	}
	if !partial {
		t.Errorf("the audit log has no partly granted push of vic: %+v", entries)
	}
}

func mustRegistry(t *testing.T, host string) name.Registry {
	r, err := name.NewRegistry(host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// skopeo copies src to dst within host with the given credentials (user:password).
func skopeo(t *testing.T, host, srcCreds, dstCreds, src, dst string, wantOK bool) {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		if os.Getenv("BERTH_E2E") == "1" {
			t.Fatal("skopeo not installed; BERTH_E2E=1 requires it")
		}
		t.Log("skopeo not installed: skipping its copies")
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--insecure-policy", "copy", "--retry-times", "0",
		"--src-tls-verify=false", "--dest-tls-verify=false",
		"--src-creds", srcCreds, "--dest-creds", dstCreds,
		"docker://"+host+"/"+src, "docker://"+host+"/"+dst)
	// skopeo reads no docker or containers config of the machine running the tests.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+home, "REGISTRY_AUTH_FILE="+filepath.Join(home, "auth.json"))
	out, err := cmd.CombinedOutput()
	if wantOK && err != nil {
		t.Errorf("skopeo copy %s → %s: %v\n%s", src, dst, err, out)
	}
	if !wantOK {
		if err == nil {
			t.Errorf("skopeo copy %s → %s as %s succeeded, want refused", src, dst, strings.Split(dstCreds, ":")[0])
		} else if s := string(out); !strings.Contains(s, "unauthorized") && !strings.Contains(s, "denied") && !strings.Contains(s, "401") && !strings.Contains(s, "403") {
			t.Errorf("skopeo copy %s → %s failed otherwise than refused: %s", src, dst, out)
		}
	}
}

// rawGet sends a manifest GET for web/app:1 with a bearer token, as any client would.
func rawGet(t *testing.T, host, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/web/app/manifests/1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func rawRefused(t *testing.T, host, token, what string) {
	t.Helper()
	if code := rawGet(t, host, token); code != http.StatusUnauthorized {
		t.Errorf("%s: registry answered %d, want 401", what, code)
	}
}

// foreignToken is a well-formed token for the right issuer and service, signed by a key of
// another Berth.
func foreignToken(t *testing.T) string {
	t.Helper()
	other := newFixture(t)
	tok, err := other.c.Issuer.Issue(t.Context(), "dev", []auth.Access{{Type: "repository", Name: "web/app", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Raw
}
