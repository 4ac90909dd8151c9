package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/access"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/replication"
	"github.com/berth-registry/berth/server/store"
)

// TestCLIRegistryAndReplicate adds an endpoint with berth registry, then runs a rule with
// berth replicate: dry first (nothing written), then for real.
func TestCLIRegistryAndReplicate(t *testing.T) {
	main, other := registrytest.Open(t), registrytest.Open(t)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := func(base, s string) name.Reference {
		r, _ := name.ParseReference(strings.TrimPrefix(base, "http://")+"/"+s, name.Insecure)
		return r
	}
	if err := remote.Write(ref(main, "team/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cli := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		n := 1 // flags follow the command's words
		if args[0] == "registry" {
			n = 2
		}
		code, ok := runCommand(append(args[:n:n], append([]string{"--data-dir", dir, "--registry", main}, args[n:]...)...), &out, &errOut)
		if !ok {
			t.Fatalf("%v not recognised", args)
		}
		return out.String() + errOut.String(), code
	}
	if out, code := cli("registry", "add", "--repositories", "team/a, team/b", "other", other); code != 0 {
		t.Fatalf("registry add: %d %s", code, out)
	}
	if out, code := cli("registry", "list"); code != 0 || !strings.Contains(out, "other") || !strings.Contains(out, other) {
		t.Fatalf("registry list: %d %s", code, out)
	}
	// The rule, made as the API would.
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := clusterSecret(config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := replication.New(replication.Options{Store: st, Main: registrytest.NewClient(t, registry.Options{URL: main}), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := access.With(t.Context(), access.Identity{Kind: access.Service, Name: "test"})
	if eps, err := svc.Endpoints(ctx); err != nil || len(eps) != 2 || !slices.Equal(eps[1].Repositories, []string{"team/a", "team/b"}) {
		t.Fatalf("endpoints: %+v %v, want other listing team/a and team/b", eps, err)
	}
	if _, err := svc.SaveRule(ctx, api.ReplicationRule{Name: "to-other", Source: api.MainRegistry, Destination: "other", Repositories: "team/**", Trigger: api.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	if out, code := cli("replicate", "--dry-run", "to-other"); code != 0 || !strings.Contains(out, "copy   team/app:v1 → team/app:v1") {
		t.Fatalf("replicate --dry-run: %d %s", code, out)
	}
	if _, err := remote.Head(ref(other, "team/app:v1")); err == nil {
		t.Fatal("the dry run copied")
	}
	if out, code := cli("replicate", "to-other"); code != 0 || !strings.Contains(out, "succeeded: 1 copied") {
		t.Fatalf("replicate: %d %s", code, out)
	}
	if _, err := remote.Head(ref(other, "team/app:v1")); err != nil {
		t.Errorf("not copied: %v", err)
	}
	if out, code := cli("replicate", "nope"); code != 1 || !strings.Contains(out, `No replication rule is named "nope"`) {
		t.Errorf("unknown rule: %d %s", code, out)
	}
}
