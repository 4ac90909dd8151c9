package contents_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/contents"
	"github.com/berth-registry/berth/server/demo"
)

// TestDemo looks inside the demo image the UI shows: its os-release, its diff, its report.
func TestDemo(t *testing.T) {
	e := newEnv(t, openRegistry(t), contents.Limits{})
	if err := demo.Seed(t.Context(), e.host); err != nil {
		t.Fatal(err)
	}
	img := "/api/v1/contents/" + demo.InsideRepo + "/-/image/1.1"
	var fc api.FileContent
	e.mustGet(t, img+"/file?path=/etc/issue", &fc)
	if fc.Resolved != "/etc/os-release" || !strings.Contains(fc.Text, `PRETTY_NAME="Berth Demo Linux 1.1"`) {
		t.Errorf("/etc/issue = %+v", fc)
	}
	var tr api.Tree
	e.mustGet(t, img+"/tree?path=/etc", &tr)
	for _, en := range tr.Entries {
		if en.Path == "/etc/motd" {
			t.Errorf("whited-out /etc/motd is listed: %+v", tr.Entries)
		}
	}
	var d api.ImageDiff
	e.mustGet(t, "/api/v1/diff?from="+url.QueryEscape(demo.InsideRepo+":1.0")+"&to="+url.QueryEscape(demo.InsideRepo+":1.1"), &d)
	added := map[string]bool{}
	for _, en := range d.Added {
		added[en.Path] = true
	}
	if !added["/app/plugins/audit.so"] || len(d.AddedLayers) != 3 || len(d.RemovedLayers) != 2 {
		t.Errorf("diff: added %v, layers +%d -%d", added, len(d.AddedLayers), len(d.RemovedLayers))
	}
	var sc api.SupplyChain
	e.mustGet(t, img+"/supply-chain", &sc)
	if sc.Severities != (api.Severities{Critical: 1, High: 1, Medium: 2, Low: 1, Reports: 1}) || len(sc.Packages) != 6 {
		t.Errorf("supply chain: %+v, %d packages", sc.Severities, len(sc.Packages))
	}
	var ic api.ImageContents
	e.mustGet(t, img, &ic)
	if len(ic.Steps) != 5 || ic.Steps[2].Instruction != "RUN rm /etc/motd && install-app" || ic.Steps[2].Files != 3 {
		t.Errorf("steps = %+v", ic.Steps)
	}
}
