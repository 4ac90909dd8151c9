package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-registry/berth/server/registrytest"
)

// TestCLIScan imports a fixture OSV archive with berth vulndb import, then scans an Alpine
// image pushed to distribution 3: the finding is printed, and --fail-on critical exits 1.
func TestCLIScan(t *testing.T) {
	reg := registrytest.Distribution3(t)
	pushAlpine(t, reg.Host+"/team/alpine:1")
	dir := t.TempDir()
	archive := filepath.Join(dir, "all.zip")
	writeAdvisories(t, archive, `{"id":"ALPINE-TEST-1","modified":"2026-11-01T00:00:00Z","database_specific":{"severity":"CRITICAL"},
		"affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"busybox"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.36.1-r30"}]}]}]}`)
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code, ok := runCommand(args, &out, &errOut)
		if !ok {
			t.Fatalf("%v: not a command", args)
		}
		return code, out.String() + errOut.String()
	}
	if code, out := run("vulndb", "--data-dir", dir, "import", archive); code != 0 || !strings.Contains(out, "imported 1 advisories") {
		t.Fatalf("import: %d %s", code, out)
	}
	if code, out := run("vulndb", "--data-dir", dir, "status"); code != 0 || !strings.Contains(out, "Alpine") {
		t.Fatalf("status: %d %s", code, out)
	}
	code, out := run("scan", "--registry", reg.URL, "--data-dir", dir, "team/alpine:1")
	if code != 0 || !strings.Contains(out, "ALPINE-TEST-1") || !strings.Contains(out, "1 critical") {
		t.Fatalf("scan: %d %s", code, out)
	}
	if code, out := run("scan", "--registry", reg.URL, "--data-dir", dir, "--fail-on", "high", "team/alpine:1"); code != 1 || !strings.Contains(out, "--fail-on") {
		t.Fatalf("scan --fail-on high: %d %s", code, out)
	}
}

func pushAlpine(t *testing.T, to string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, data := range map[string]string{
		"etc/os-release":       "ID=alpine\nVERSION_ID=3.20.3\n",
		"lib/apk/db/installed": "P:busybox\nV:1.36.1-r29\nA:x86_64\n\n",
	} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(data))
	}
	_ = tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(to, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

func writeAdvisories(t *testing.T, path string, records ...string) {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i, r := range records {
		w, _ := zw.Create(filepath.Base(path) + string(rune('a'+i)) + ".json")
		_, _ = w.Write([]byte(r))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
