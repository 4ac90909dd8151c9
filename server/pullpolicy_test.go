package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestPullPolicyNamespace: a namespace's "signature required" policy with its key, set
// through the API, refuses an unsigned image pulled from the embedded registry's own port
// (which Berth's /v2 forwards to) with the policy's message, lets the image signed by the key
// through, and never keeps Berth's own views (the manifest page's API) from the image; on
// distribution 2.8 behind Berth, the same through /v2.
func TestPullPolicyNamespace(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		pwFile := filepath.Join(t.TempDir(), "admin")
		if err := os.WriteFile(pwFile, []byte(govPassword), 0o600); err != nil {
			t.Fatal(err)
		}
		regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		base := startBerth(t, func(c *config.Config) {
			c.AccessControl, c.AnonymousWrites, c.AdminPasswordFile = true, false, pwFile
			c.EmbeddedAddr, c.NoDemo, c.SyncInterval = regAddr, true, 0
		})
		if code, body := govCall(t, "admin", "POST", base+"/api/v1/teams", map[string]string{"name": "team"}, nil); code != http.StatusCreated {
			t.Fatalf("create team: %d %s", code, body)
		}
		// Berth's /v2 forwards to this port; go-containerregistry would not follow its realm
		// on 127.0.0.1 from another port.
		checkPullPolicy(t, base, "admin", regAddr, regAddr)
	})
	t.Run("distribution-2.8", func(t *testing.T) {
		b := startGovBerth(t, true)
		checkPullPolicy(t, b.base, "dev", b.host, b.host)
	})
}

// checkPullPolicy pushes to pushHost as user, sets team's policy as admin and pulls from
// pullHost.
func checkPullPolicy(t *testing.T, base, user, pushHost, host string) {
	creds := remote.WithAuth(&authn.Basic{Username: user, Password: govPassword})
	key, pub := registrytest.SigningKey(t)
	unsigned, signed := layered(t, randomLayer(t, 256)), layered(t, randomLayer(t, 256))
	for tag, img := range map[string]v1.Image{"unsigned": unsigned, "signed": signed} {
		ref, _ := name.ParseReference(pushHost+"/team/app:"+tag, name.Insecure)
		if err := remote.Write(ref, img, creds); err != nil {
			t.Fatal(err)
		}
	}
	registrytest.CosignSign(t, pushHost+"/team/app", signed, key, creds)

	url := base + "/api/v1/namespaces/team/pull-policy"
	if code, body := govCall(t, "admin", "PUT", url, api.PullPolicyRequest{Signed: true, Keys: "not a key"}, nil); code != http.StatusBadRequest || !strings.Contains(body, "PEM public keys") {
		t.Fatalf("bad keys: %d %s", code, body)
	}
	var got api.PullPolicy
	if code, body := govCall(t, "admin", "PUT", url, api.PullPolicyRequest{Severity: "High", Signed: true, Keys: pub}, &got); code != http.StatusOK || got.Severity != "high" || !got.Signed || got.Global {
		t.Fatalf("set policy: %d %s", code, body)
	}
	_, err := remote.Get(mustRef(t, host+"/team/app:unsigned"), creds)
	if err == nil || !strings.Contains(err.Error(), `DENIED: pull refused by Berth's pull policy "signature required" (of namespace team)`) {
		t.Fatalf("unsigned from %s: %v", host, err)
	}
	if _, err := remote.Get(mustRef(t, host+"/team/app:signed"), creds); err != nil {
		t.Fatalf("signed from %s: %v", host, err)
	}
	if code, body := govCall(t, user, "GET", base+"/api/v1/repositories/team/app/manifests/unsigned", nil, nil); code != http.StatusOK {
		t.Fatalf("Berth's own view of the unsigned image: %d %s", code, body)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
