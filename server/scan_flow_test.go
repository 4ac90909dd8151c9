package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/config"
	"github.com/berth-registry/berth/server/demo"
	"github.com/berth-registry/berth/server/embedded"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestScanFlow, on distribution 3 and 2.8: an image with an apk database pushed with skopeo
// is scanned from the registry's notification and its findings come through the API; a
// database imported with berth vulndb import has the sweep rescan it, and the findings
// change with it.
func TestScanFlow(t *testing.T) {
	need(t, "skopeo")
	for _, flavor := range []string{"distribution 3", "distribution 2.8"} {
		t.Run(flavor, func(t *testing.T) { testScanFlow(t, flavor) })
	}
}

func testScanFlow(t *testing.T, flavor string) {
	const secret = "notifications secret of the scan flow"
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "events-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := demo.Advisories(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	demoFile := filepath.Join(t.TempDir(), "demo.zip")
	if err := os.WriteFile(demoFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	importAdvisories(t, dir, demoFile)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	notify := "http://" + addr + "/events"
	var reg registrytest.Registry
	if flavor == "distribution 2.8" {
		reg = registrytest.Distribution28(t, registrytest.Config28{Notify: notify, NotifyToken: secret})
	} else {
		reg = registrytest.Distribution3(t, embedded.WithNotifications("berth", notify,
			http.Header{"Authorization": {"Bearer " + secret}}, 5*time.Second, 100*time.Millisecond))
	}
	cfg := config.Default()
	cfg.Addr, cfg.EmbeddedAddr, cfg.DataDir, cfg.LogLevel, cfg.Registry = addr, "off", dir, "warn", reg.URL
	cfg.EventsSecretFile, cfg.NoDemo, cfg.SyncInterval, cfg.ScanSweepInterval = secretFile, true, 0, time.Second
	base, _ := runBerth(t, cfg)

	imgs, err := demo.ScanImages()
	if err != nil {
		t.Fatal(err)
	}
	if ok, out := skopeoAs(t, "any:thing", ociImage(t, imgs["alpine"]), "docker://"+reg.Host+"/team/alpine:1"); !ok {
		t.Fatalf("push: %s", out)
	}
	var m api.Manifest
	if code := apiGet(t, base+"/api/v1/repositories/team/alpine/manifests/1", &m); code != http.StatusOK {
		t.Fatalf("manifest: %d", code)
	}
	report := base + "/api/v1/scans/" + m.Digest + "?repository=team/alpine"
	rep := awaitFindings(t, report, func(r api.ScanReport) bool { return r.State == api.ScanDone && !r.Stale })
	if got := findingIDs(rep); got != "BERTH-DEMO-0001 critical, BERTH-DEMO-0002 high, BERTH-DEMO-0003 low" || rep.FixableCritical != 1 {
		t.Fatalf("findings after the push: %s (fixable critical %d)", got, rep.FixableCritical)
	}
	// The catalog row carries the worst severity, from the index.
	waitFor(t, "the catalog's worst severity", 30*time.Second, func() bool {
		var page api.RepositoryPage
		apiGet(t, base+"/api/v1/repositories", &page)
		return len(page.Repositories) == 1 && page.Repositories[0].Severity == "critical"
	})

	// Another database: busybox's advisory withdrawn, musl's rated critical with a fix.
	swapped := filepath.Join(t.TempDir(), "all.zip")
	writeAdvisories(t, swapped, `{"id":"BERTH-DEMO-0102","modified":"2026-11-20T00:00:00Z","summary":"Fictional","database_specific":{"severity":"CRITICAL"},
			"affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"musl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2.5-r1"}]}]}]}`)
	importAdvisories(t, dir, swapped)
	rep = awaitFindings(t, report, func(r api.ScanReport) bool { return r.State == api.ScanDone && !r.Stale && r.Database.Records == 1 })
	if got := findingIDs(rep); got != "BERTH-DEMO-0102 critical" || rep.FixableCritical != 1 {
		t.Fatalf("findings after the new database: %s", got)
	}
}

// importAdvisories runs berth vulndb import on an OSV archive file into the data directory.
func importAdvisories(t *testing.T, dir, file string) {
	t.Helper()
	var out strings.Builder
	if code, _ := runCommand([]string{"vulndb", "--data-dir", dir, "import", file}, &out, &out); code != 0 {
		t.Fatalf("vulndb import: %d %s", code, out.String())
	}
}

// awaitFindings reads a report through the API until done says it is the one awaited.
func awaitFindings(t *testing.T, url string, done func(api.ScanReport) bool) api.ScanReport {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var rep api.ScanReport
		code := apiGet(t, url, &rep)
		if code == http.StatusOK && done(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report as awaited within a minute: %d %+v", code, rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func findingIDs(r api.ScanReport) string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.ID+" "+f.Severity)
	}
	return strings.Join(slices.Sorted(slices.Values(out)), ", ")
}

// apiGet GETs url anonymously and decodes the JSON answer into out.
func apiGet(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = json.Unmarshal(b, out)
	return resp.StatusCode
}

// awaitDemoScan waits until Berth's scan of the demo's ScanRepo:tag is stored.
func awaitDemoScan(t *testing.T, base, tag string) {
	t.Helper()
	var m api.Manifest
	if code := apiGet(t, base+"/api/v1/repositories/"+demo.ScanRepo+"/manifests/"+tag, &m); code != http.StatusOK {
		t.Fatalf("manifest of %s:%s: %d", demo.ScanRepo, tag, code)
	}
	awaitFindings(t, base+"/api/v1/scans/"+m.Digest+"?repository="+demo.ScanRepo, func(r api.ScanReport) bool { return r.State == api.ScanDone })
}
