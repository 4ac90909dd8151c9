package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPack(t *testing.T) {
	dist := t.TempDir()
	for _, p := range []string{"berth_v1_linux_amd64", "berth_v1_darwin_arm64"} {
		if err := os.MkdirAll(filepath.Join(dist, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dist, p, "berth"), []byte("binary for "+p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	readme := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(readme, []byte("# Berth\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	archives, err := pack(dist, []string{readme, filepath.Join(t.TempDir(), "LICENSE")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(archives, " "); got != "berth_v1_darwin_arm64.tar.gz berth_v1_linux_amd64.tar.gz" {
		t.Fatalf("archives %s", got)
	}

	var wantSums strings.Builder
	for _, a := range archives {
		b, err := os.ReadFile(filepath.Join(dist, a))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&wantSums, "%s  %s\n", hex.EncodeToString(sum[:]), a)

		platform := strings.TrimSuffix(a, ".tar.gz")
		zr, err := gzip.NewReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		got := map[string]string{}
		modes := map[string]int64{}
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(tr)
			got[hdr.Name], modes[hdr.Name] = string(body), hdr.Mode
		}
		want := map[string]string{platform + "/berth": "binary for " + platform, platform + "/README.md": "# Berth\n"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s holds %v, want %v", a, got, want)
		}
		if modes[platform+"/berth"]&0o111 == 0 {
			t.Errorf("%s: berth is not executable (mode %o)", a, modes[platform+"/berth"])
		}
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if string(sums) != wantSums.String() {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", sums, wantSums.String())
	}
}

func TestPackNothingBuilt(t *testing.T) {
	if _, err := pack(t.TempDir(), nil); err == nil {
		t.Error("packing an empty dist directory succeeded")
	}
}
