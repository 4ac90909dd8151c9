package scan

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/registrytest"
	"github.com/berth-registry/berth/server/store"
)

// TestServiceRescan pushes an Alpine image to distribution 3 and 2.8, scans it as a River
// job against one fixture database, then swaps the database: the sweep rescans it and the
// findings change.
func TestServiceRescan(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(t *testing.T) registrytest.Registry
	}{
		{"distribution3", func(t *testing.T) registrytest.Registry { return registrytest.Distribution3(t) }},
		{"distribution2.8", func(t *testing.T) registrytest.Registry {
			return registrytest.Distribution28(t, registrytest.Config28{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := tc.reg(t)
			img := fixtureImage(t, alpineFiles())
			ref, err := name.ParseReference(reg.Host+"/team/alpine:1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			digest, _ := img.Digest()
			st, svc := newService(t, reg.URL)
			ctx := t.Context()
			// Indexed as the catalog's indexer would, so the sweep finds it.
			if err := st.PutTags(ctx, []store.IndexTag{{Repository: "team/alpine", Tag: "1", Digest: digest.String(), Checked: time.Now(), Pushed: time.Now()}}); err != nil {
				t.Fatal(err)
			}
			if err := st.PutManifests(ctx, "team/alpine", []store.IndexManifest{{Digest: digest.String(), Kind: "image"}}); err != nil {
				t.Fatal(err)
			}
			load(t, st, osvArchive(t, advisory("ALPINE-TEST-1", "Alpine:v3.20", "busybox", "1.36.1-r30", "CRITICAL")))
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			first := waitReport(t, st, digest.String(), func(r store.ScanReport) bool { return r.Critical == 1 })
			if first.FixableCritical != 1 || len(first.Findings) != 1 || first.Findings[0].Fixed != "1.36.1-r30" {
				t.Fatalf("first report: %+v", first)
			}
			load(t, st, osvArchive(t, advisory("ALPINE-TEST-2", "Alpine:v3.20", "busybox", "1.36.1-r31", "LOW")))
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			second := waitReport(t, st, digest.String(), func(r store.ScanReport) bool { return r.Low == 1 })
			if second.Critical != 0 || second.Findings[0].ID != "ALPINE-TEST-2" {
				t.Fatalf("rescan: %+v", second)
			}
		})
	}
}

// newService is a Service reading the registry at url, on a fresh SQLite store, with its job
// queue running; with changes applied to its Options.
func newService(t *testing.T, url string, changes ...func(*Options)) (store.Store, *Service) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	client := registrytest.NewClient(t, registry.Options{URL: url})
	authz := registry.NewAuthorizer(client, 0)
	opts := Options{Own: client, Authorizer: authz, Store: st, WorkDir: t.TempDir()}
	for _, change := range changes {
		change(&opts)
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ops.NewManager(t.Context(), ops.Options{Registry: client, Authorizer: authz, Store: st,
		Secret: []byte("a cluster secret for the tests"), Queues: []ops.Kind{svc.Kind()}})
	if err != nil {
		t.Fatal(err)
	}
	svc.Attach(m)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return st, svc
}

func load(t *testing.T, st store.Store, raw []byte) {
	t.Helper()
	db, err := Load(t.Context(), bytes.NewReader(raw), DefaultMaxDBSize, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutVulnDB(t.Context(), db); err != nil {
		t.Fatal(err)
	}
}

func waitReport(t *testing.T, st store.Store, digest string, ok func(store.ScanReport) bool) store.ScanReport {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, found, err := st.ScanReport(t.Context(), digest)
		if err != nil {
			t.Fatal(err)
		}
		if found && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no such report of %s within a minute; last: %+v (found %v)", digest, r, found)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
