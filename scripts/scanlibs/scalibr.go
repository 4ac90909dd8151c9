//go:build ignore

// Package scanprobe is the OSV-SCALIBR side of measure.sh: the calls Berth would make, copied
// into a throwaway copy of Berth to measure binary growth, and run by run.go for time and RSS.
package scanprobe

import (
	"context"
	"encoding/json"
	"io"

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
	"github.com/google/osv-scalibr/plugin"
	"github.com/google/osv-scalibr/plugin/config"
)

// Name says which library this probe measures.
const Name = "scalibr"

// Scan inventories img, matches it against the OSV zips under dbDir and writes SPDX and
// CycloneDX; it returns the package count.
func Scan(ctx context.Context, img v1.Image, dbDir string, out io.Writer) (int, error) {
	simg, err := scalibrimage.FromV1Image(img, scalibrimage.DefaultConfig())
	if err != nil {
		return 0, err
	}
	defer simg.CleanUp()
	pc := &cpb.PluginConfig{PluginSpecific: []*cpb.PluginSpecificConfig{{Config: &cpb.PluginSpecificConfig_Osvlocal{
		Osvlocal: &cpb.OSVLocalConfig{LocalPath: dbDir}}}}}
	cfg := &config.PluginConfig{ProtoConfig: pc, ClientFactories: config.NewDefaultClientFactories("berth")}
	var plugins []plugin.Plugin
	for _, f := range []func(*cpb.PluginConfig) (filesystem.Extractor, error){
		apk.New, dpkg.New, rpm.New, gobinary.New, packagejson.New, wheelegg.New, archive.New,
	} {
		e, err := f(pc)
		if err != nil {
			return 0, err
		}
		plugins = append(plugins, e)
	}
	matcher, err := osvlocal.New(cfg)
	if err != nil {
		return 0, err
	}
	plugins = append(plugins, matcher)
	res, err := scalibr.New().ScanContainer(ctx, simg, &scalibr.ScanConfig{
		Plugins: plugins, Capabilities: &plugin.Capabilities{OS: plugin.OSLinux, Network: plugin.NetworkOffline},
		RequiredPluginConfig: cfg,
	})
	if err != nil {
		return 0, err
	}
	enc := json.NewEncoder(out)
	if err := enc.Encode(converter.ToSPDX23(res.Inventory, spdx.Config{DocumentName: "probe"})); err != nil {
		return 0, err
	}
	if err := enc.Encode(converter.ToCDX(res.Inventory, converter.CDXConfig{ComponentName: "probe"})); err != nil {
		return 0, err
	}
	return len(res.Inventory.Packages), nil
}
