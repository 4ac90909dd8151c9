package scan

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/demo"
)

// TestDemoImages scans the demo's images with package databases against the demo's
// advisories: SCALIBR reads the apk database, the dpkg status and the crafted Go binary's
// build info, and the fictional advisories match each.
func TestDemoImages(t *testing.T) {
	raw, err := demo.Advisories(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	db, err := ParseArchive(bytes.NewReader(raw), int64(len(raw)), "demo")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := (&files{root: t.TempDir()}).dirFor(db)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := demo.ScanImages()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"alpine": {"BERTH-DEMO-0001 busybox critical", "BERTH-DEMO-0002 musl high", "BERTH-DEMO-0003 zlib low"},
		"debian": {"BERTH-DEMO-0004 openssl critical", "BERTH-DEMO-0005 curl critical", "BERTH-DEMO-0006 libc6 medium"},
		"go":     {"BERTH-DEMO-0007 golang.org/x/net high", "BERTH-DEMO-0008 go medium"},
	}
	for tag, img := range imgs {
		res, err := Image(t.Context(), img, dir, demo.ScanRepo+":"+tag)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range res.Findings {
			got = append(got, f.ID+" "+f.Package+" "+f.Severity)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[tag]) {
			t.Errorf("%s: %d packages, findings %q, want %q", tag, res.Packages, got, want[tag])
		}
	}
}
