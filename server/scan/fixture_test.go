package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fixtureImage is a one-layer image holding files.
func fixtureImage(t testing.TB, files map[string][]byte) v1.Image {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, data := range files {
		mode := int64(0o644)
		if filepath.Dir(name) == "usr/bin" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// alpineFiles is an Alpine 3.20 root with busybox 1.36.1-r29 in apk's database.
func alpineFiles() map[string][]byte {
	return map[string][]byte{
		"etc/os-release":       []byte("ID=alpine\nVERSION_ID=3.20.3\nNAME=\"Alpine Linux\"\n"),
		"lib/apk/db/installed": []byte("C:Q1abc=\nP:busybox\nV:1.36.1-r29\nA:x86_64\nS:500000\nI:900000\nT:Size optimized toolbox\nU:https://busybox.net/\nL:GPL-2.0-only\no:busybox\nm:Someone <a@b.c>\nt:1700000000\nc:abc\n\n"),
	}
}

// debianFiles is a Debian 12 root with openssl 3.0.11-1~deb12u2 in dpkg's status.
func debianFiles() map[string][]byte {
	return map[string][]byte{
		"etc/os-release":      []byte("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
		"var/lib/dpkg/status": []byte("Package: openssl\nStatus: install ok installed\nPriority: optional\nSection: utils\nMaintainer: Debian <a@b.c>\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\nDescription: Secure Sockets Layer toolkit\n\n"),
	}
}

// advisory is an OSV record affecting name in ecosystem before fixed.
func advisory(id, ecosystem, name, fixed, severity string) map[string]any {
	rec := map[string]any{
		"schema_version": "1.6.0", "id": id, "modified": "2026-11-01T00:00:00Z", "summary": id + " in " + name,
		"affected": []any{map[string]any{
			"package": map[string]any{"ecosystem": ecosystem, "name": name},
			"ranges":  []any{map[string]any{"type": "ECOSYSTEM", "events": []any{map[string]any{"introduced": "0"}, map[string]any{"fixed": fixed}}}},
		}},
	}
	if severity != "" {
		rec["database_specific"] = map[string]any{"severity": severity}
	}
	return rec
}

// osvArchive zips OSV records as osv.dev exports them.
func osvArchive(t testing.TB, records ...map[string]any) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, r := range records {
		w, err := zw.Create(r["id"].(string) + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(w).Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// goBinary builds a tiny Go program, whose build info names the Go version (stdlib).
func goBinary(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "hello", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
