package ui

import (
	"testing"

	"github.com/berth-registry/berth/app/api"
)

// TestFindingsFilter: "fixable critical" keeps only tags whose scan found a critical with a
// fix; the filter shows once any tag is scanned; the demo's fictional advisories link nowhere.
func TestFindingsFilter(t *testing.T) {
	tags := []api.Tag{{Name: "a", Severity: "critical", FixableCritical: 1}, {Name: "b", Severity: "critical"}, {Name: "c"}}
	var kept []string
	for _, tag := range tags {
		if keepsFindings(fixableCritical, tag) {
			kept = append(kept, tag.Name)
		}
		if !keepsFindings("", tag) {
			t.Errorf("no filter drops %s", tag.Name)
		}
	}
	if len(kept) != 1 || kept[0] != "a" {
		t.Errorf("fixable critical keeps %v, want [a]", kept)
	}
	if !scannedTags(tags) || scannedTags(tags[2:]) {
		t.Error("scannedTags")
	}
	if advisoryURL("BERTH-DEMO-0001") != "" || advisoryURL("GHSA-xxxx-yyyy-zzzz") != "https://osv.dev/vulnerability/GHSA-xxxx-yyyy-zzzz" {
		t.Error("advisory links")
	}
	if api.ReportSource(api.BerthScanFormat) != "Berth scan" || api.ReportSource("Trivy") != "attached (Trivy)" {
		t.Error("report sources")
	}
}
