package replication

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/auth"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// tokenRegistry starts a distribution 3 requiring Bearer tokens from Berth's own token
// service (server/auth over its own SQLite store), which its listener serves too, and a
// robot of the team dr (developer: it pushes under dr/). It returns the registry's base
// URL and the robot's name and secret.
func tokenRegistry(t testing.TB) (base, robot, secret string) {
	t.Helper()
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	accounts, err := store.AccountsOf(st)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadSecret(filepath.Join(t.TempDir(), "secret.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	const service, issuer = "berth-dr-registry", "berth-dr"
	c, err := auth.New(ctx, auth.Options{Store: accounts, Secret: key, Issuer: issuer, Service: service, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := c.Keys.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bundleFile := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundleFile, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	base = "http://" + srv.Listener.Addr().String()
	reg, err := embedded.New(context.Background(), t.TempDir(), embedded.WithTokenAuth(base+"/auth/token", service, issuer, bundleFile))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/token", func(w http.ResponseWriter, r *http.Request) {
		c.Tokens.ServeToken(w, r.WithContext(access.WithClient(r.Context(), access.ClientAddr(r, nil))))
	})
	mux.Handle("/", reg.Handler())
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	if _, err := c.Connect(registry.Options{URL: base, Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := c.Accounts.CreateUser(ctx, "test", "root", "a long root password", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Accounts.CreateTeam(ctx, "root", "dr", "disaster recovery", "root", true); err != nil {
		t.Fatal(err)
	}
	robot, secret, err = c.Accounts.CreateRobot(ctx, "root", "dr", "replicator", store.RoleDeveloper, "replication", 0)
	if err != nil {
		t.Fatal(err)
	}
	return base, robot, secret
}

// TestPushReplicatesSignedIndexToTokenRegistry: a push rule towards a distribution 3 behind
// Berth's token service, with a robot's credentials, copies a signed multi-platform index
// with its SBOM on its push events: digests equal at the destination.
func TestPushReplicatesSignedIndexToTokenRegistry(t *testing.T) {
	h := newHarness(t)
	base, robot, secret := tokenRegistry(t)
	auth := remote.WithAuth(&authn.Basic{Username: robot, Password: secret})
	if err := h.s.AddEndpoint(h.ctx, api.RegistryEndpoint{Name: "dr", URL: base, Username: robot, Password: secret}); err != nil {
		t.Fatal(err)
	}
	if test, err := h.s.Test(h.ctx, "dr"); err != nil || !test.OK {
		t.Fatalf("test connection: %+v %v", test, err)
	}
	rule := h.rule(t, api.ReplicationRule{Name: "to-dr", Source: api.MainRegistry, Destination: "dr", Repositories: "team/**",
		Prefix: "dr", Trigger: api.TriggerPush})
	index, sigTag, sbom := pushSigned(t, h.main, "team/app:v1")
	h.s.OnEvents([]store.Event{
		{Action: store.ActionPush, Repository: "team/app", Tag: "v1", Digest: index.String()},
		{Action: store.ActionPush, Repository: "team/app", Tag: sigTag},
	})
	for _, r := range h.waitRuns(t, rule.ID, 2) {
		if r.State != api.RunSucceeded {
			t.Fatalf("run: %+v", r)
		}
	}
	h.arrived(t, "team/app", base, "dr/team/app", index, sigTag, sbom, auth)
}
