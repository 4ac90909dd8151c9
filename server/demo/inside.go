package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// InsideRepo holds two tags of an image made for "Look inside": layers with whiteouts, an
// opaque directory, symlinks, a hard link, a long PAX name and /etc/os-release; 1.1 has an
// SPDX SBOM and a Trivy SARIF report as OCI referrers.
const InsideRepo = "examples/inside"

// tarFile is one entry of a demo layer.
type tarFile struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func reg(n, body string) tarFile { return tarFile{name: n, typ: tar.TypeReg, body: body, mode: 0o644} }
func exe(n, body string) tarFile { return tarFile{name: n, typ: tar.TypeReg, body: body, mode: 0o755} }
func folder(n string) tarFile    { return tarFile{name: n, typ: tar.TypeDir, mode: 0o755} }
func softlink(n, target string) tarFile {
	return tarFile{name: n, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlinkTo(n, target string) tarFile {
	return tarFile{name: n, typ: tar.TypeLink, link: target, mode: 0o755}
}

// insideLayer packs entries as written, whiteouts and all, in PAX format (long names), with
// fixed times so digests never change.
func insideLayer(files ...tarFile) (v1.Layer, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Linkname: f.link, ModTime: reference, Format: tar.FormatPAX}
		if f.typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return static.NewLayer(buf.Bytes(), types.OCILayer), nil
}

type insideStep struct {
	createdBy string
	files     []tarFile // nil: a step without a layer
}

func insideImage(steps []insideStep, cfg v1.Config, age int) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	var history []v1.History
	for _, s := range steps {
		h := v1.History{CreatedBy: s.createdBy, Created: v1.Time{Time: daysAgo(age)}, EmptyLayer: s.files == nil}
		history = append(history, h)
		if s.files == nil {
			continue
		}
		l, err := insideLayer(s.files...)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer}); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created, cf.History, cf.Config = "linux", "amd64", v1.Time{Time: daysAgo(age)}, history, cfg
	return mutate.ConfigFile(img, cf)
}

func insideImages() (old, cur v1.Image, err error) {
	osRelease := func(v string) string {
		return fmt.Sprintf("NAME=\"Berth Demo Linux\"\nID=berth\nVERSION_ID=%s\nPRETTY_NAME=\"Berth Demo Linux %s\"\nHOME_URL=\"https://example.com/berth\"\n", v, v)
	}
	longName := "usr/share/berth/" + strings.Repeat("a-rather-long-directory-name/", 5) + "with-a-file-whose-path-needs-pax.txt"
	base := func(v string) insideStep {
		return insideStep{"/bin/sh -c #(nop) ADD file:9a3b0f5c in / ", []tarFile{
			folder("bin/"), exe("bin/busybox", string(random("inside-busybox", 48<<10))),
			hardlinkTo("bin/sh", "bin/busybox"), softlink("bin/ls", "busybox"),
			folder("etc/"), reg("etc/os-release", osRelease(v)), softlink("etc/issue", "os-release"),
			reg("etc/hosts", "127.0.0.1 localhost\n::1 localhost\n"),
			reg("etc/motd", "Welcome to the Berth demo image.\n"),
			folder("usr/share/doc/legacy/"), reg("usr/share/doc/legacy/README", "Old documentation, replaced in a later layer.\n"),
			reg(longName, "A file whose path is longer than the 100 bytes of a classic tar header.\n"),
		}}
	}
	env := insideStep{"/bin/sh -c #(nop)  ENV APP_HOME=/app", nil}
	app := func(version, config string) insideStep {
		return insideStep{"RUN |1 VERSION=" + version + " /bin/sh -c rm /etc/motd && install-app # buildkit", []tarFile{
			reg("etc/.wh.motd", ""),
			folder("usr/share/doc/"), reg("usr/share/doc/.wh..wh..opq", ""), reg("usr/share/doc/app.md", "# The app\n\nSee /app/config.yaml.\n"),
			folder("app/"), exe("app/server", string(random("inside-server-"+version, 96<<10))), reg("app/config.yaml", config),
			softlink("usr/local/bin/server", "/app/server"),
		}}
	}
	cfg := func(version string, ports ...string) v1.Config {
		p := map[string]struct{}{}
		for _, port := range ports {
			p[port] = struct{}{}
		}
		return v1.Config{
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "APP_HOME=/app", "APP_VERSION=" + version},
			Entrypoint: []string{"/app/server"}, Cmd: []string{"--config", "/app/config.yaml"}, User: "65534",
			ExposedPorts: p, WorkingDir: "/app",
			Labels: map[string]string{"org.opencontainers.image.version": version, "org.opencontainers.image.title": "inside"},
		}
	}
	old, err = insideImage([]insideStep{base("1.0"), env, app("1.0", "listen: :8080\n"),
		{"/bin/sh -c #(nop)  CMD [\"--config\" \"/app/config.yaml\"]", nil}}, cfg("1.0", "8080/tcp"), 30)
	if err != nil {
		return nil, nil, err
	}
	cur, err = insideImage([]insideStep{base("1.1"), env, app("1.1", "listen: :8080\nmetrics: :9090\n"),
		{"COPY plugins/ /app/plugins/ # buildkit", []tarFile{folder("app/plugins/"), reg("app/plugins/audit.so", string(random("inside-audit", 24<<10)))}},
		{"/bin/sh -c #(nop)  CMD [\"--config\" \"/app/config.yaml\"]", nil}}, cfg("1.1", "8080/tcp", "9090/tcp"), 5)
	return old, cur, err
}

// seedInside pushes examples/inside:1.0 and :1.1 (also latest), and 1.1's SBOM and report.
func seedInside(ctx context.Context, pusher *remote.Pusher, host string) error {
	old, cur, err := insideImages()
	if err != nil {
		return fmt.Errorf("demo: build %s: %w", InsideRepo, err)
	}
	repo := registryRepo(host, InsideRepo)
	for tag, img := range map[string]v1.Image{"1.0": old, "1.1": cur, "latest": cur} {
		if err := pusher.Push(ctx, repo.Tag(tag), img); err != nil {
			return fmt.Errorf("demo: push %s:%s: %w", InsideRepo, tag, err)
		}
	}
	digest, _ := cur.Digest()
	size, _ := cur.Size()
	subject := &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digest, Size: size}
	created := daysAgo(5).Format("2006-01-02T15:04:05Z")

	type pkg struct{ name, version, purl, license string }
	pkgs := []pkg{
		{"busybox", "1.36.1-r29", "pkg:apk/berth/busybox@1.36.1-r29", "GPL-2.0-only"},
		{"musl", "1.2.5-r0", "pkg:apk/berth/musl@1.2.5-r0", "MIT"},
		{"libcrypto3", "3.3.0-r2", "pkg:apk/berth/libcrypto3@3.3.0-r2", "Apache-2.0"},
		{"libssl3", "3.3.0-r2", "pkg:apk/berth/libssl3@3.3.0-r2", "Apache-2.0"},
		{"golang.org/x/net", "v0.23.0", "pkg:golang/golang.org/x/net@v0.23.0", "BSD-3-Clause"},
		{"github.com/berth-registry/inside", "v1.1.0", "pkg:golang/github.com/berth-registry/inside@v1.1.0", "Apache-2.0"},
	}
	var spdxPkgs []map[string]any
	for i, p := range pkgs {
		spdxPkgs = append(spdxPkgs, map[string]any{
			"name": p.name, "SPDXID": fmt.Sprintf("SPDXRef-Package-%d", i), "versionInfo": p.version,
			"downloadLocation": "NOASSERTION", "licenseConcluded": p.license, "licenseDeclared": p.license,
			"externalRefs": []map[string]string{{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}},
		})
	}
	sbom, _ := json.MarshalIndent(map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": InsideRepo + ":1.1",
		"documentNamespace": "https://example.com/spdx/" + digest.Hex,
		"creationInfo":      map[string]any{"created": created, "creators": []string{"Tool: berth-demo"}},
		"packages":          spdxPkgs,
	}, "", "  ")
	if err := pushArtifact(ctx, pusher, repo, "", artifact{
		artifactType: spdxJSON, subject: subject, configType: emptyConfig, config: []byte("{}"),
		layerType: spdxJSON, layer: sbom,
		annotations: map[string]string{"org.opencontainers.image.created": created},
	}); err != nil {
		return err
	}

	type vuln struct{ id, pkg, version, fixed, severity, score, title string }
	vulns := []vuln{
		{"CVE-2024-5535", "libcrypto3", "3.3.0-r2", "3.3.1-r1", "CRITICAL", "9.1", "openssl: SSL_select_next_proto buffer overread"},
		{"CVE-2024-4741", "libssl3", "3.3.0-r2", "3.3.1-r0", "HIGH", "7.5", "openssl: Use After Free with SSL_free_buffers"},
		{"CVE-2024-2511", "libssl3", "3.3.0-r2", "3.3.0-r3", "MEDIUM", "5.9", "openssl: Unbounded memory growth with session handling in TLSv1.3"},
		{"CVE-2023-45288", "golang.org/x/net", "v0.23.0", "v0.24.0", "MEDIUM", "5.3", "golang: net/http, x/net/http2: unlimited number of CONTINUATION frames"},
		{"CVE-2024-9143", "libcrypto3", "3.3.0-r2", "3.3.2-r1", "LOW", "3.1", "openssl: Low-level invalid GF(2^m) parameters lead to OOB memory access"},
	}
	var rules, results []map[string]any
	for _, v := range vulns {
		rules = append(rules, map[string]any{
			"id": v.id, "name": "OsPackageVulnerability", "shortDescription": map[string]string{"text": v.title},
			"properties": map[string]any{"security-severity": v.score, "tags": []string{"vulnerability", "security", v.severity}},
		})
		results = append(results, map[string]any{
			"ruleId": v.id, "level": map[string]string{"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}[v.severity],
			"message": map[string]string{"text": fmt.Sprintf("Package: %s\nInstalled Version: %s\nVulnerability %s\nSeverity: %s\nFixed Version: %s", v.pkg, v.version, v.id, v.severity, v.fixed)},
		})
	}
	sarif, _ := json.MarshalIndent(map[string]any{
		"version": "2.1.0", "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json",
		"runs": []map[string]any{{"tool": map[string]any{"driver": map[string]any{"name": "Trivy", "version": "0.52.0", "rules": rules}}, "results": results}},
	}, "", "  ")
	return pushArtifact(ctx, pusher, repo, "", artifact{
		artifactType: "application/sarif+json", subject: subject, configType: emptyConfig, config: []byte("{}"),
		layerType: "application/sarif+json", layer: sarif,
		annotations: map[string]string{"org.opencontainers.image.created": created, "org.opencontainers.image.description": "Trivy vulnerability report"},
	})
}
