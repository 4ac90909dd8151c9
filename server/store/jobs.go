package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// jobsMigration is migration 3 of both databases: what Berth keeps about write jobs beside
// River's own tables. bytes is the database's binary column type.
func jobsMigration(bytes string) string {
	return `CREATE TABLE job_events (
		job_id BIGINT NOT NULL,
		seq INTEGER NOT NULL,
		ts BIGINT NOT NULL,
		done BIGINT NOT NULL DEFAULT 0,
		total BIGINT NOT NULL DEFAULT 0,
		final BOOLEAN NOT NULL DEFAULT FALSE,
		data TEXT NOT NULL,
		PRIMARY KEY (job_id, seq)
	);
	CREATE TABLE job_secrets (
		id TEXT PRIMARY KEY,
		sealed ` + bytes + ` NOT NULL,
		created BIGINT NOT NULL
	)`
}

// JobEvent is one persisted event of a write job. The store keeps Data as it is given (the
// JSON of the API's event); Done and Total are the job's bytes so far and in all at the time,
// so a job's progress is its last event's.
type JobEvent struct {
	JobID int64
	// Seq numbers a job's events from 1; the writer of a job picks them.
	Seq   int
	Time  time.Time
	Done  int64
	Total int64
	// Final marks the job's last event (its result or error).
	Final bool
	Data  []byte
}

// JobStore keeps write jobs' progress events and their sealed credentials. Every Store
// implements it.
type JobStore interface {
	// AddJobEvents stores events; an event whose (job, seq) is stored already is skipped, so
	// a job resumed on another replica, or two writers of one final event, never duplicate.
	// Listeners (ListenJobEvents) hear of every job that got events.
	AddJobEvents(ctx context.Context, events []JobEvent) error
	// JobEvents returns up to limit events of job with Seq > after, in order.
	JobEvents(ctx context.Context, job int64, after, limit int) ([]JobEvent, error)
	// LastJobEvents returns the newest event of each job among jobs that has any (for
	// progress and outcome); data is included only for final events.
	LastJobEvents(ctx context.Context, jobs []int64) (map[int64]JobEvent, error)
	// DeleteJobEvents drops the events of jobs.
	DeleteJobEvents(ctx context.Context, jobs []int64) error
	// PutJobSecret stores a job's sealed credentials under id.
	PutJobSecret(ctx context.Context, id string, sealed []byte) error
	// JobSecret returns the sealed credentials stored under id; ok is false when none are.
	JobSecret(ctx context.Context, id string) (sealed []byte, ok bool, err error)
	// DeleteJobSecrets drops sealed credentials by id.
	DeleteJobSecrets(ctx context.Context, ids []string) error
	// JobSecretIDs returns the ids of the sealed credentials stored before t.
	JobSecretIDs(ctx context.Context, before time.Time) ([]string, error)
	// RenewJobLease says that the replica running attempt of job is alive: it moves the
	// job queue's attempted_at to now, by which River's rescuer tells a stuck job. ok is false
	// when the job no longer runs that attempt.
	RenewJobLease(ctx context.Context, job int64, attempt int) (ok bool, err error)
}

// ErrNoListen is returned by ListenJobEvents of a database that cannot push notifications
// (SQLite): followers poll instead.
var ErrNoListen = errors.New("store: this database does not push notifications")

// AddJobEvents implements JobStore.
func (s *sqlStore) AddJobEvents(ctx context.Context, events []JobEvent) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	jobs := map[int64]bool{}
	for _, e := range events {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO job_events (job_id, seq, ts, done, total, final, data)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, seq) DO NOTHING`),
			e.JobID, e.Seq, e.Time.UnixNano(), e.Done, e.Total, e.Final, string(e.Data)); err != nil {
			return fmt.Errorf("%s: job %d event %d: %w", s.d.name, e.JobID, e.Seq, err)
		}
		jobs[e.JobID] = true
	}
	if s.d.notify != "" {
		for id := range jobs {
			if _, err := tx.ExecContext(ctx, s.d.notify, fmt.Sprint(id)); err != nil {
				return fmt.Errorf("%s: notify job %d: %w", s.d.name, id, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", s.d.name, err)
	}
	return nil
}

func scanJobEvent(rows *sql.Rows) (JobEvent, error) {
	var e JobEvent
	var ts int64
	var data sql.NullString
	if err := rows.Scan(&e.JobID, &e.Seq, &ts, &e.Done, &e.Total, &e.Final, &data); err != nil {
		return e, err
	}
	e.Time = time.Unix(0, ts).UTC()
	if data.Valid {
		e.Data = []byte(data.String)
	}
	return e, nil
}

// JobEvents implements JobStore.
func (s *sqlStore) JobEvents(ctx context.Context, job int64, after, limit int) ([]JobEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT job_id, seq, ts, done, total, final, data FROM job_events
		WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`), job, after, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: job %d events: %w", s.d.name, job, err)
	}
	defer rows.Close()
	var out []JobEvent
	for rows.Next() {
		e, err := scanJobEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: job %d events: %w", s.d.name, job, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastJobEvents implements JobStore.
func (s *sqlStore) LastJobEvents(ctx context.Context, jobs []int64) (map[int64]JobEvent, error) {
	out := map[int64]JobEvent{}
	for len(jobs) > 0 {
		n := min(len(jobs), 500)
		batch := jobs[:n]
		jobs = jobs[n:]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(batch)), ",")
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT e.job_id, e.seq, e.ts, e.done, e.total, e.final,
				CASE WHEN e.final THEN e.data ELSE NULL END
			FROM job_events e JOIN (SELECT job_id, MAX(seq) AS seq FROM job_events WHERE job_id IN (`+marks+`) GROUP BY job_id) m
			ON e.job_id = m.job_id AND e.seq = m.seq`), args...)
		if err != nil {
			return nil, fmt.Errorf("%s: last job events: %w", s.d.name, err)
		}
		for rows.Next() {
			e, err := scanJobEvent(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: last job events: %w", s.d.name, err)
			}
			out[e.JobID] = e
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DeleteJobEvents implements JobStore.
func (s *sqlStore) DeleteJobEvents(ctx context.Context, jobs []int64) error {
	for _, id := range jobs {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM job_events WHERE job_id = ?`), id); err != nil {
			return fmt.Errorf("%s: delete job %d events: %w", s.d.name, id, err)
		}
	}
	return nil
}

// PutJobSecret implements JobStore.
func (s *sqlStore) PutJobSecret(ctx context.Context, id string, sealed []byte) error {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO job_secrets (id, sealed, created) VALUES (?, ?, ?)`),
		id, sealed, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("%s: put job secret: %w", s.d.name, err)
	}
	return nil
}

// JobSecret implements JobStore.
func (s *sqlStore) JobSecret(ctx context.Context, id string) ([]byte, bool, error) {
	var sealed []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT sealed FROM job_secrets WHERE id = ?`), id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: job secret: %w", s.d.name, err)
	}
	return sealed, true, nil
}

// DeleteJobSecrets implements JobStore.
func (s *sqlStore) DeleteJobSecrets(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM job_secrets WHERE id = ?`), id); err != nil {
			return fmt.Errorf("%s: delete job secret: %w", s.d.name, err)
		}
	}
	return nil
}

// JobSecretIDs implements JobStore.
func (s *sqlStore) JobSecretIDs(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM job_secrets WHERE created < ? ORDER BY created`), before.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("%s: job secrets: %w", s.d.name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// RenewJobLease implements JobStore on River's own table, with the database's clock and
// time format, as River sets attempted_at when a job is fetched.
func (s *sqlStore) RenewJobLease(ctx context.Context, job int64, attempt int) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE river_job SET attempted_at = `+s.d.now+`
		WHERE id = ? AND state = 'running' AND attempt = ?`), job, attempt)
	if err != nil {
		return false, fmt.Errorf("%s: renew job %d lease: %w", s.d.name, job, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ListenJobEvents implements Store for SQLite, which cannot: followers poll.
func (s *sqlStore) ListenJobEvents(ctx context.Context, heard func(job int64)) error {
	return ErrNoListen
}
