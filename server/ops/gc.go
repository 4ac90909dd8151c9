package ops

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// GCResult is what a garbage collection freed.
type GCResult struct {
	// Before and After are the storage directory's size in bytes.
	Before, After int64
}

// Freed is the bytes garbage collection removed.
func (r GCResult) Freed() int64 { return r.Before - r.After }

// GarbageCollect runs distribution's offline mark-and-sweep over the embedded registry's
// storage in dir: blobs no manifest references are deleted and, with removeUntagged,
// manifests no tag points to. No registry may serve dir meanwhile — a push running during
// the sweep can lose blobs — so Berth must be stopped.
func GarbageCollect(ctx context.Context, dir string, dryRun, removeUntagged bool) (GCResult, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return GCResult{}, fmt.Errorf("gc: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, "docker", "registry", "v2")); err != nil {
		return GCResult{}, fmt.Errorf("gc: %s holds no registry storage: %w", abs, err)
	}
	var res GCResult
	if res.Before, err = dirSize(abs); err != nil {
		return res, err
	}
	driver := filesystem.New(filesystem.DriverParameters{RootDirectory: abs, MaxThreads: 16})
	reg, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return res, fmt.Errorf("gc: open registry storage: %w", err)
	}
	if err := storage.MarkAndSweep(ctx, driver, reg, storage.GCOpts{DryRun: dryRun, RemoveUntagged: removeUntagged, Quiet: true}); err != nil {
		return res, fmt.Errorf("gc: mark and sweep: %w", err)
	}
	if res.After, err = dirSize(abs); err != nil {
		return res, err
	}
	return res, nil
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gc: measure %s: %w", dir, err)
	}
	return n, nil
}
