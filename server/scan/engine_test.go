package scan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestImage inventories a Debian root with a Go binary and matches it offline against a
// fixture database: dpkg and Go findings, worst severity from the advisory or CVSS, SPDX 2.3
// and CycloneDX 1.5 documents listing the packages.
func TestImage(t *testing.T) {
	root := debianFiles()
	root["usr/bin/hello"] = goBinary(t)
	img := fixtureImage(t, root)
	raw := osvArchive(t,
		advisory("DEBIAN-TEST-1", "Debian:12", "openssl", "3.0.13-1~deb12u1", "HIGH"),
		advisory("DEBIAN-TEST-2", "Debian:12", "openssl", "3.0.1-1", "CRITICAL"), // fixed before: no finding
		advisory("GO-TEST-1", "Go", "stdlib", "99.0.0", ""),
		advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL"),
	)
	db, err := ParseArchive(bytes.NewReader(raw), int64(len(raw)), "test")
	if err != nil {
		t.Fatal(err)
	}
	if db.Records != 4 || db.Counts["Debian"] != 2 || db.Counts["Go"] != 1 || db.Counts["Alpine"] != 1 {
		t.Fatalf("database: %d records, %v", db.Records, db.Counts)
	}
	dir, err := (&files{root: t.TempDir()}).dirFor(db)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Image(t.Context(), img, dir, "test/debian@sha256:x")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range res.Findings {
		got[f.ID+" "+f.Package] = f.Severity
	}
	want := map[string]string{"DEBIAN-TEST-1 openssl": High, "GO-TEST-1 go": Unknown} // SCALIBR names the Go toolchain "go"
	if len(got) != len(want) || got["DEBIAN-TEST-1 openssl"] != High || got["GO-TEST-1 go"] != Unknown {
		t.Fatalf("findings %v, want %v", got, want)
	}
	// A database without the Go ecosystem still matches the Debian packages (SCALIBR's
	// matcher stopped at the first package of an ecosystem without an archive).
	raw = osvArchive(t, advisory("DEBIAN-TEST-1", "Debian:12", "openssl", "3.0.13-1~deb12u1", "HIGH"))
	debOnly, err := ParseArchive(bytes.NewReader(raw), int64(len(raw)), "test")
	if err != nil {
		t.Fatal(err)
	}
	if dir, err = (&files{root: t.TempDir()}).dirFor(debOnly); err != nil {
		t.Fatal(err)
	}
	if only, err := Image(t.Context(), img, dir, "test/debian@sha256:x"); err != nil || len(only.Findings) != 1 || only.Findings[0].ID != "DEBIAN-TEST-1" {
		t.Fatalf("with the Debian ecosystem only: %+v, %v", only.Findings, err)
	}
	if res.Packages < 2 || !bytes.Contains(res.SPDX, []byte(`"SPDX-2.3"`)) || !bytes.Contains(res.SPDX, []byte("openssl")) {
		t.Fatalf("SPDX of %d packages: %.300s", res.Packages, res.SPDX)
	}
	var cdx struct {
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	if err := json.Unmarshal(res.CycloneDX, &cdx); err != nil || cdx.SpecVersion != "1.5" || len(cdx.Components) < 2 {
		t.Fatalf("CycloneDX %s with %d components (%v)", cdx.SpecVersion, len(cdx.Components), err)
	}
}
