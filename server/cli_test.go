package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
)

func TestCLICopyRemoveCleanup(t *testing.T) {
	reg := registrytest.Open(t)
	other := registrytest.Open(t)
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "v2", "v3"} {
		r, _ := name.ParseReference(strings.TrimPrefix(reg, "http://")+"/team/app:"+tag, name.Insecure)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code, ok := runCommand(args, &out, &errOut)
		if !ok {
			t.Fatalf("%v not recognised as a command", args)
		}
		return out.String(), errOut.String(), code
	}
	if out, errs, code := cli("cp", "--registry", reg, "--to", other, "team/app:v1", "copied/app"); code != 0 || !strings.Contains(out, "copied/app@sha256:") || !strings.Contains(errs, ": Copied ") {
		t.Fatalf("cp: %d\n%s\n%s", code, out, errs)
	}
	r, _ := name.ParseReference(strings.TrimPrefix(other, "http://")+"/copied/app:v1", name.Insecure)
	if _, err := remote.Head(r); err != nil {
		t.Errorf("the copy is not there: %v", err)
	}
	if out, errs, code := cli("rm", "--registry", reg, "team/app:v3"); code != 0 || !strings.Contains(out, "deleted team/app:v3") {
		t.Fatalf("rm: %d\n%s\n%s", code, out, errs)
	}
	// v1 and v2 share one image; keeping the newest one keeps v2 (ties by name).
	out, errs, code := cli("cleanup", "--registry", reg, "--repo", "team/app", "--keep", "1", "--dry-run")
	if code != 0 || !strings.Contains(out, "would delete team/app:v2") || !strings.Contains(out, "1 tag would be deleted") {
		t.Fatalf("cleanup --dry-run: %d\n%s\n%s", code, out, errs)
	}
	if out, errs, code := cli("cleanup", "--registry", reg, "--repo", "team/app", "--keep", "1"); code != 0 || !strings.Contains(out, "deleted team/app:v2") {
		t.Fatalf("cleanup: %d\n%s\n%s", code, out, errs)
	}
	if _, _, code := cli("cp", "only-one-arg"); code != 2 {
		t.Errorf("cp with one argument exited %d, want 2", code)
	}
}

func TestCLIGarbageCollectEmbedded(t *testing.T) {
	dataDir := t.TempDir()
	reg, err := embedded.New(context.Background(), filepath.Join(dataDir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	img, _ := random.Image(512<<10, 1)
	r, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/team/app:v1", name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_ = reg.Close()

	var out, errOut bytes.Buffer
	// rm against the embedded storage, then gc frees the layer.
	if code, _ := runCommand([]string{"rm", "--data-dir", dataDir, "team/app:v1"}, &out, &errOut); code != 0 {
		t.Fatalf("rm: %s", errOut.String())
	}
	out.Reset()
	if code, _ := runCommand([]string{"gc", "--data-dir", dataDir, "--remove-untagged"}, &out, &errOut); code != 0 {
		t.Fatalf("gc: %s", errOut.String())
	}
	if !strings.Contains(out.String(), "freed") || strings.Contains(out.String(), "freed 0 B") {
		t.Errorf("gc output %q", out.String())
	}
}

func TestCLIPush(t *testing.T) {
	reg := registrytest.Open(t)
	dir := t.TempDir()
	one, err := random.Image(8192, 2)
	if err != nil {
		t.Fatal(err)
	}
	two, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag := func(s string) name.Tag {
		tg, err := name.NewTag(s)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	multi := filepath.Join(dir, "multi.tar")
	if err := tarball.MultiRefWriteToFile(multi, map[name.Reference]v1.Image{
		tag("example.com/app:one"): one, tag("example.com/app:uno"): one, tag("example.com/app:two"): two,
	}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code, _ := runCommand([]string{"push", "--registry", reg, multi, "pushed/app"}, &out, &errOut); code != 0 {
		t.Fatalf("push: %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), ": Pushed ") || !strings.Contains(errOut.String(), "Tagging pushed/app:") {
		t.Errorf("push shows no progress on stderr:\n%s", errOut.String())
	}
	for tg, img := range map[string]v1.Image{"one": one, "uno": one, "two": two} {
		r, _ := name.ParseReference(strings.TrimPrefix(reg, "http://")+"/pushed/app:"+tg, name.Insecure)
		d, err := remote.Head(r)
		want, _ := img.Digest()
		if err != nil || d.Digest != want {
			t.Errorf("pushed/app:%s is %v (%v), want %s", tg, d, err, want)
		}
		if !strings.Contains(out.String(), "pushed/app:"+tg) {
			t.Errorf("stdout does not list pushed/app:%s:\n%s", tg, out.String())
		}
	}

	// One image, gzip-compressed, under the tag given.
	single := filepath.Join(dir, "single.tar")
	if err := tarball.WriteToFile(single, tag("example.com/app:x"), two); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(single)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	if err := os.WriteFile(single+".gz", gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code, _ := runCommand([]string{"push", "--registry", reg, single + ".gz", "pushed/app:given"}, &out, &errOut); code != 0 {
		t.Fatalf("push gzip: %d\n%s", code, errOut.String())
	}
	r, _ := name.ParseReference(strings.TrimPrefix(reg, "http://")+"/pushed/app:given", name.Insecure)
	if d, err := remote.Head(r); err != nil {
		t.Errorf("pushed/app:given: %v", err)
	} else if want, _ := two.Digest(); d.Digest != want {
		t.Errorf("pushed/app:given is %s, want %s", d.Digest, want)
	}

	// A truncated archive is refused, and nothing is tagged.
	if err := os.WriteFile(filepath.Join(dir, "cut.tar"), raw[:len(raw)/2+100], 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code, _ := runCommand([]string{"push", "--registry", reg, filepath.Join(dir, "cut.tar"), "pushed/cut:x"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "truncated") {
		t.Errorf("truncated archive: exit %d, %s", code, errOut.String())
	}
	r, _ = name.ParseReference(strings.TrimPrefix(reg, "http://")+"/pushed/cut:x", name.Insecure)
	if _, err := remote.Head(r); err == nil {
		t.Error("the truncated archive was tagged")
	}
}
