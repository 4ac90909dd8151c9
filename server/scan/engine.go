// Package scan makes Berth's own package inventories (SBOMs) and vulnerability findings for
// the images in the registry, with OSV-SCALIBR: its extractors read the OS and language
// package databases of an image's flattened layers, its converters write SPDX 2.3 and
// CycloneDX, and its offline OSV matcher (osvlocal) matches the packages against the OSV
// database archives Berth keeps in its store (vulndb.go). Scans run as River jobs (jobs.go).
package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	scalibr "github.com/google/osv-scalibr"
	scalibrimage "github.com/google/osv-scalibr/artifact/image/layerscanning/image"
	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/converter"
	"github.com/google/osv-scalibr/converter/spdx"
	"github.com/google/osv-scalibr/enricher/vulnmatch/osvlocal"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	"github.com/google/osv-scalibr/inventory"
	"github.com/google/osv-scalibr/plugin"
	"github.com/google/osv-scalibr/plugin/config"
	"github.com/google/osv-scalibr/result"

	"github.com/berth-registry/berth/server/store"
)

// extractors are the package databases Berth reads: OS packages (apk, dpkg, rpm) and
// language packages (Go binaries' build info, npm package.json, Python wheels and eggs, Java
// archives). Each one added grows bin/berth only by its own code.
var extractors = []func(*cpb.PluginConfig) (filesystem.Extractor, error){
	apk.New, dpkg.New, rpm.New, gobinary.New, packagejson.New, wheelegg.New, archive.New,
}

// MaxFileBytes bounds one file SCALIBR keeps from a layer (a package database, a binary).
const MaxFileBytes = 256 << 20

// Result is one image's scan: its SBOMs and its findings.
type Result struct {
	Packages  int
	Findings  []store.ScanFinding
	SPDX      []byte
	CycloneDX []byte
}

// Image inventories img's flattened layers and, when dbDir holds OSV archives
// (<ecosystem>/all.zip), matches the packages against them without any network access.
// name names the SBOM documents.
func Image(ctx context.Context, img v1.Image, dbDir, name string) (Result, error) {
	cfg := scalibrimage.DefaultConfig()
	cfg.MaxFileBytes = MaxFileBytes
	simg, err := scalibrimage.FromV1Image(budgeted(img, MaxImageBytes), cfg)
	if err != nil {
		return Result{}, fmt.Errorf("read the image's layers: %w", err)
	}
	defer func() { _ = simg.CleanUp() }()
	plugins, pcfg, err := plugins(dbDir)
	if err != nil {
		return Result{}, err
	}
	res, err := scalibr.New().ScanContainer(ctx, simg, &scalibr.ScanConfig{
		Plugins:              plugins,
		Capabilities:         &plugin.Capabilities{OS: plugin.OSLinux, Network: plugin.NetworkOffline, DirectFS: false},
		RequiredPluginConfig: pcfg,
		ExplicitPlugins:      true,
	})
	if err != nil {
		return Result{}, fmt.Errorf("scan: %w", err)
	}
	if res.Status != nil && res.Status.Status == plugin.ScanStatusFailed {
		return Result{}, fmt.Errorf("scan: %s", res.Status.FailureReason)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return documents(res, name)
}

// plugins are the extractors and, with a database, the offline matcher.
func plugins(dbDir string) ([]plugin.Plugin, *config.PluginConfig, error) {
	pc := &cpb.PluginConfig{}
	if dbDir != "" {
		// Download off: the matcher only reads <dbDir>/<ecosystem>/all.zip.
		pc.PluginSpecific = []*cpb.PluginSpecificConfig{{Config: &cpb.PluginSpecificConfig_Osvlocal{
			Osvlocal: &cpb.OSVLocalConfig{LocalPath: dbDir}}}}
	}
	pcfg := &config.PluginConfig{ProtoConfig: pc, ClientFactories: config.NewDefaultClientFactories("berth")}
	var out []plugin.Plugin
	for _, f := range extractors {
		e, err := f(pc)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	if dbDir != "" {
		m, err := osvlocal.New(pcfg)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, m)
	}
	return out, pcfg, nil
}

// documents turns SCALIBR's result into SBOMs and findings.
func documents(res *result.ScanResult, name string) (Result, error) {
	inv := res.Inventory
	out := Result{Packages: len(inv.Packages), Findings: findings(inv)}
	var err error
	if out.SPDX, err = json.Marshal(converter.ToSPDX23(inv, spdx.Config{DocumentName: name})); err != nil {
		return Result{}, fmt.Errorf("SPDX: %w", err)
	}
	bom := converter.ToCDX(inv, converter.CDXConfig{ComponentName: name, ComponentType: "container"})
	out.CycloneDX, err = encodeCycloneDX(bom)
	if err != nil {
		return Result{}, fmt.Errorf("CycloneDX: %w", err)
	}
	return out, nil
}

// findings are the matcher's package vulnerabilities, one per advisory and package.
func findings(inv inventory.Inventory) []store.ScanFinding {
	var out []store.ScanFinding
	seen := map[[3]string]bool{}
	for _, pv := range inv.PackageVulns {
		if pv.Vulnerability == nil || pv.Package == nil {
			continue
		}
		f := finding(pv.Vulnerability, pv.Package)
		key := [3]string{f.ID, f.Package, f.Version}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, f)
	}
	return out
}

// ErrNoDatabase is returned by scans that need a vulnerability database when none is loaded.
var ErrNoDatabase = errors.New("no vulnerability database is loaded")
