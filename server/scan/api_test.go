package scan

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/registrytest"
)

// TestAPI asks for a scan over HTTP and waits for its findings through the API, then reads
// the SBOM and the database's state; a repository the caller names wrongly is refused.
func TestAPI(t *testing.T) {
	reg := registrytest.Distribution3(t)
	img := fixtureImage(t, alpineFiles())
	ref, _ := name.ParseReference(reg.Host+"/team/alpine:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	st, svc := newService(t, reg.URL)
	load(t, st, osvArchive(t, advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL")))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/scans", svc.ServeStart)
	mux.HandleFunc("GET /api/v1/scans/{digest}", svc.ServeReport)
	mux.HandleFunc("GET /api/v1/scans/{digest}/sbom", svc.ServeSBOM)
	mux.HandleFunc("GET /api/v1/vulndb", svc.ServeDatabase)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp, err := http.Post(srv.URL+"/api/v1/scans", "application/json", bytes.NewReader([]byte(`{"repository":"team/alpine","reference":"1"}`)))
	if err != nil {
		t.Fatal(err)
	}
	var queued api.ScanReport
	_ = json.NewDecoder(resp.Body).Decode(&queued)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || queued.Digest != digest.String() || queued.State != api.ScanQueued {
		t.Fatalf("POST: %d %+v", resp.StatusCode, queued)
	}
	var rep api.ScanReport
	deadline := time.Now().Add(time.Minute)
	for rep.State != api.ScanDone {
		if time.Now().After(deadline) {
			t.Fatalf("not scanned within a minute: %+v", rep)
		}
		time.Sleep(20 * time.Millisecond)
		getJSON(t, srv.URL+"/api/v1/scans/"+digest.String()+"?repository=team/alpine", http.StatusOK, &rep)
	}
	if rep.Source != "Berth" || rep.Severities.Critical != 1 || rep.Severities.Reports != 1 || len(rep.Findings) != 1 ||
		rep.Findings[0].URL != "https://osv.dev/vulnerability/ALPINE-TEST-1" || !rep.Database.Loaded || rep.Stale {
		t.Fatalf("report: %+v", rep)
	}
	var cdx struct {
		SpecVersion string `json:"specVersion"`
	}
	getJSON(t, srv.URL+"/api/v1/scans/"+digest.String()+"/sbom?repository=team/alpine&format=cyclonedx", http.StatusOK, &cdx)
	if cdx.SpecVersion != "1.5" {
		t.Fatalf("CycloneDX %q", cdx.SpecVersion)
	}
	var db api.VulnDBStatus
	getJSON(t, srv.URL+"/api/v1/vulndb", http.StatusOK, &db)
	if db.Records != 1 || db.Ecosystems["Alpine"] != 1 || db.Age == "" {
		t.Fatalf("database: %+v", db)
	}
	// Not in that repository: the registry says so, nothing of the report shows.
	var refused struct {
		Error struct{ Code string } `json:"error"`
	}
	getJSON(t, srv.URL+"/api/v1/scans/"+digest.String()+"?repository=team/other", http.StatusNotFound, &refused)
	if refused.Error.Code == "" {
		t.Fatal("no error code")
	}
}

func getJSON(t *testing.T, url string, status int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
