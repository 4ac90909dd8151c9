package scan

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// TestFetchFromLoopback: with the database's URL on a loopback mirror, the periodic fetch
// loads it (its dials allowed because the operator named that host; the same guard refuses
// loopback for any other), the status tells its age, an unchanged archive is not loaded
// again, and a changed one is loaded and rescanned into other findings.
func TestFetchFromLoopback(t *testing.T) {
	var mu sync.Mutex
	archive, etag, loads := osvArchive(t, advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL")), `"a"`, 0
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		loads++
		w.Header().Set("ETag", etag)
		_, _ = w.Write(archive)
	}))
	t.Cleanup(mirror.Close)
	dbURL := mirror.URL + "/Alpine/all.zip"
	client, err := DBClient(dbURL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := DBClient("http://mirror.example.invalid/all.zip", 5*time.Second)
	if resp, err := other.Get(dbURL); err == nil {
		resp.Body.Close()
		t.Fatal("a guard for another host dialed loopback")
	}

	reg := registrytest.Distribution3(t)
	img := fixtureImage(t, alpineFiles())
	push(t, reg.Host+"/team/alpine:1", img)
	digest, _ := img.Digest()
	st, svc := newService(t, reg.URL, func(o *Options) { o.DBURL, o.Fetch = dbURL, client })
	ctx := t.Context()
	if err := st.PutTags(ctx, []store.IndexTag{{Repository: "team/alpine", Tag: "1", Digest: digest.String(), Checked: time.Now(), Pushed: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutManifests(ctx, "team/alpine", []store.IndexManifest{{Digest: digest.String(), Kind: "image"}}); err != nil {
		t.Fatal(err)
	}
	fetch := periodic(t, svc, "vulndb-fetch")
	if err := fetch(ctx); err != nil {
		t.Fatal(err)
	}
	db, ok, err := st.VulnDBState(ctx)
	if err != nil || !ok || db.Source != dbURL || db.Records != 1 {
		t.Fatalf("loaded: %+v %v %v", db, ok, err)
	}
	if age := Status(db, db.Newest.Add(73*time.Hour)).Age; age != "database from 3 days ago" {
		t.Fatalf("age: %q", age)
	}
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	waitReport(t, st, digest.String(), func(r store.ScanReport) bool { return r.Critical == 1 })

	if err := fetch(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	archive, etag = osvArchive(t, advisory("ALPINE-TEST-2", "Alpine:v3.20", "busybox", "1.36.1-r31", "LOW")), `"b"`
	mu.Unlock()
	if err := fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	r := waitReport(t, st, digest.String(), func(r store.ScanReport) bool { return r.Low == 1 })
	mu.Lock()
	defer mu.Unlock()
	if r.Critical != 0 || !strings.HasPrefix(r.Findings[0].ID, "ALPINE-TEST-2") || loads != 2 {
		t.Fatalf("after the change: %+v, archives sent %d (want 2: unchanged one not sent again)", r, loads)
	}
}

// periodic is the Run of svc's periodic task named name.
func periodic(t *testing.T, svc *Service, name string) func(context.Context) error {
	for _, p := range svc.Periodic(time.Hour, time.Hour) {
		if p.Name == name {
			return p.Run
		}
	}
	t.Fatalf("no periodic task %s", name)
	return nil
}
