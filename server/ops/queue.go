package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/server/store"
)

// queue is the part of a River client the Manager uses, whatever its database driver: River's
// client is generic over the driver's transaction type, the Manager is not.
type queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobDeleteMany(ctx context.Context, params *river.JobDeleteManyParams) (*river.JobDeleteManyResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// newQueue migrates River's tables in the store's database and returns a client on it.
func newQueue(ctx context.Context, b store.Backend, cfg *river.Config) (queue, error) {
	switch {
	case b.Postgres != nil:
		driver := riverpgxv5.New(b.Postgres)
		// Replicas starting at once: the first migrates, the others wait on the lock and find
		// nothing to do. A session lock, since River's migrations cannot share one transaction
		// (a migration uses an enum value the one before added).
		conn, err := b.Postgres.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("jobs: migrate: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7467827)`); err != nil {
			return nil, fmt.Errorf("jobs: migrate: lock: %w", err)
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7467827)`) }()
		m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, fmt.Errorf("jobs: migrate: %w", err)
		}
		res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs: migrate: %w", err)
		}
		if len(res.Versions) > 0 {
			slog.Info("migrated the job queue's tables", "versions", len(res.Versions))
		}
		return river.NewClient(driver, cfg)
	case b.SQLite != nil:
		driver := riversqlite.New(b.SQLite)
		// SQLite's write transactions start IMMEDIATE (store's DSN): a second migrator waits.
		tx, err := b.SQLite.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs: migrate: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := migrate(ctx, driver, tx, tx.Commit); err != nil {
			return nil, err
		}
		return river.NewClient(driver, cfg)
	}
	return nil, errors.New("jobs: the store has no database for the job queue")
}

// migrate brings River's schema up to date in tx and commits.
func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], tx TTx, commit func() error) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	if err := commit(); err != nil {
		return fmt.Errorf("jobs: migrate: commit: %w", err)
	}
	if len(res.Versions) > 0 {
		slog.Info("migrated the job queue's tables", "versions", len(res.Versions))
	}
	return nil
}

// Insert enqueues a job of a kind Options.Workers added.
func (m *Manager) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return m.queue.Insert(ctx, args, opts)
}
