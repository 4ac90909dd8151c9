package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/registrytest"
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
		if args[0] == "registry" || args[0] == "replication" {
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
	if out, code := cli("registry", "list"); code != 0 || !strings.Contains(out, "other") || !strings.Contains(out, other) || !strings.Contains(out, "team/a,team/b") {
		t.Fatalf("registry list: %d %s", code, out)
	}
	if out, code := cli("replication", "add", "to-other", "--destination", "other", "--repositories", "team/**", "--tags", "nope-*"); code != 0 {
		t.Fatalf("replication add: %d %s", code, out)
	}
	if out, code := cli("replication", "edit", "to-other", "--tags", "v*", "--labels", "a=b", "--deletions"); code != 0 {
		t.Fatalf("replication edit: %d %s", code, out)
	}
	if out, code := cli("replication", "edit", "to-other", "--labels", ""); code != 0 {
		t.Fatalf("replication edit: %d %s", code, out)
	}
	if out, code := cli("replication", "list"); code != 0 || !strings.Contains(out, "to-other  main    other        manual   repositories=team/** tags=v* deletions") {
		t.Fatalf("replication list: %d %s", code, out)
	}
	if out, code := cli("replication", "add", "bad", "--destination", "other", "--trigger", "schedule", "--schedule", "daily"); code != 1 || !strings.Contains(out, "is not a schedule") {
		t.Errorf("replication add with a bad schedule: %d %s", code, out)
	}

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
	if out, code := cli("replication", "remove", "to-other"); code != 0 {
		t.Errorf("replication remove: %d %s", code, out)
	}
	if out, code := cli("replication", "list"); code != 0 || strings.Contains(out, "to-other") {
		t.Errorf("replication list after remove: %d %s", code, out)
	}
}
