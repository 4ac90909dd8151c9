package demo

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The images Berth's own scans find something in: real package databases (apk's installed,
// dpkg's status, a Go binary's build info) at versions the demo's advisories name. The
// advisories are fictional — ids BERTH-DEMO-…, summaries saying so — so nothing here passes
// for a real vulnerability.

// ScanRepo holds the images with package databases: tags alpine, debian and go.
const ScanRepo = "examples/scanned"

// AdvisoryPrefix starts the id of every demo advisory.
const AdvisoryPrefix = "BERTH-DEMO-"

// ScanImages are ScanRepo's images by tag.
func ScanImages() (map[string]v1.Image, error) {
	alpine := []tarFile{
		folder("etc/"), reg("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"),
		folder("lib/apk/db/"), reg("lib/apk/db/installed", apkPackage("musl", "1.2.5-r0", "MIT")+apkPackage("busybox", "1.36.1-r29", "GPL-2.0-only")+
			apkPackage("zlib", "1.3.1-r1", "Zlib")),
	}
	debian := []tarFile{
		folder("etc/"), reg("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n"),
		folder("var/lib/dpkg/"), reg("var/lib/dpkg/status", dpkgPackage("libc6", "2.36-9+deb12u7", "glibc")+dpkgPackage("openssl", "3.0.11-1~deb12u2", "openssl")+
			dpkgPackage("curl", "7.88.1-10+deb12u5", "curl")),
	}
	gobin, err := goBinary("go1.22.1", "example.com/berth/demo-server", "v1.4.0",
		[][2]string{{"golang.org/x/net", "v0.23.0"}, {"golang.org/x/text", "v0.14.0"}})
	if err != nil {
		return nil, err
	}
	golang := []tarFile{folder("app/"), exe("app/demo-server", string(gobin))}
	out := map[string]v1.Image{}
	for tag, files := range map[string][]tarFile{"alpine": alpine, "debian": debian, "go": golang} {
		img, err := scanImage(files, v1.Config{
			Labels: map[string]string{"org.opencontainers.image.title": "scanned-" + tag,
				"org.opencontainers.image.description": "Package databases the demo's fictional advisories match"},
		})
		if err != nil {
			return nil, err
		}
		out[tag] = img
	}
	return out, nil
}

// scanImage is a one-layer image of files. Unlike the inside images' static layers, its
// layer decompresses like a pushed one's, as scanners read layers.
func scanImage(files []tarFile, cfg v1.Config) (v1.Image, error) {
	static, err := insideLayer(files...)
	if err != nil {
		return nil, err
	}
	gz, err := static.Compressed()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(gz)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, MediaType: types.OCILayer,
		History: v1.History{CreatedBy: "COPY rootfs/ / # buildkit", Created: v1.Time{Time: daysAgo(12)}}})
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created, cf.Config = "linux", "amd64", v1.Time{Time: daysAgo(12)}, cfg
	return mutate.ConfigFile(img, cf)
}

func apkPackage(name, version, license string) string {
	return fmt.Sprintf("C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:100000\nI:200000\nT:%s (demo)\nU:https://example.com/%s\nL:%s\no:%s\nm:Berth demo <demo@example.com>\nt:1700000000\n\n",
		hexID("apk-"+name, 27), name, version, name, name, license, name)
}

func dpkgPackage(name, version, source string) string {
	return fmt.Sprintf("Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nMaintainer: Berth demo <demo@example.com>\nArchitecture: amd64\nSource: %s\nVersion: %s\nDescription: %s (demo)\n\n",
		name, source, version, name)
}

// seedScanned pushes ScanRepo's images.
func seedScanned(ctx context.Context, pusher *remote.Pusher, host string) error {
	imgs, err := ScanImages()
	if err != nil {
		return fmt.Errorf("demo: build %s: %w", ScanRepo, err)
	}
	repo := registryRepo(host, ScanRepo)
	for tag, img := range imgs {
		if err := pusher.Push(ctx, repo.Tag(tag), img); err != nil {
			return fmt.Errorf("demo: push %s:%s: %w", ScanRepo, tag, err)
		}
	}
	return nil
}

// demoAdvisory is one fictional advisory: package name in ecosystem before fixed ("" when no
// fix is known), rated severity.
type demoAdvisory struct {
	n                               int
	ecosystem, pkg, fixed, severity string
}

var demoAdvisories = []demoAdvisory{
	{1, "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL"},
	{2, "Alpine:v3.20", "musl", "", "HIGH"},
	{3, "Alpine:v3.20", "zlib", "1.3.1-r2", "LOW"},
	{4, "Debian:12", "openssl", "3.0.11-1~deb12u3", "CRITICAL"},
	{5, "Debian:12", "curl", "", "CRITICAL"},
	{6, "Debian:12", "glibc", "2.36-9+deb12u8", "MEDIUM"},
	{7, "Go", "golang.org/x/net", "0.24.0", "HIGH"},
	{8, "Go", "stdlib", "1.22.2", "MEDIUM"},
}

// Advisories is the demo's vulnerability database: an OSV archive (a zip of OSV JSON records,
// as osv.dev exports them) of fictional advisories matching ScanRepo's packages, dated now,
// days before.
func Advisories(now time.Time) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, a := range demoAdvisories {
		id := fmt.Sprintf("%s%04d", AdvisoryPrefix, a.n)
		events := []map[string]string{{"introduced": "0"}}
		if a.fixed != "" {
			events = append(events, map[string]string{"fixed": a.fixed})
		}
		rec := map[string]any{
			"schema_version": "1.6.0", "id": id, "modified": now.AddDate(0, 0, -3).UTC().Format(time.RFC3339),
			"summary": "Fictional demo advisory for " + a.pkg + ": not a real vulnerability",
			"details": "Berth's demo database invents this advisory so that a fresh Berth shows findings offline.",
			"affected": []any{map[string]any{
				"package": map[string]string{"ecosystem": a.ecosystem, "name": a.pkg},
				"ranges":  []any{map[string]any{"type": "ECOSYSTEM", "events": events}},
			}},
			"database_specific": map[string]string{"severity": a.severity},
		}
		w, err := zw.Create(id + ".json")
		if err != nil {
			return nil, err
		}
		if err := json.NewEncoder(w).Encode(rec); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
