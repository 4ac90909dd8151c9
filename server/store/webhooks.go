package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// webhookSchema is the migration of outbound webhooks and their delivery log.
func webhookSchema(id, blob string) string {
	return `CREATE TABLE webhooks (
		id TEXT PRIMARY KEY,
		namespace TEXT NOT NULL,
		url TEXT NOT NULL,
		events TEXT NOT NULL,
		format TEXT NOT NULL,
		secret ` + blob + ` NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL
	);
	CREATE INDEX webhooks_namespace ON webhooks (namespace);
	CREATE TABLE webhook_deliveries (
		id ` + id + `,
		webhook TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
		event TEXT NOT NULL,
		event_type TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		status INTEGER NOT NULL,
		error TEXT NOT NULL DEFAULT '',
		millis BIGINT NOT NULL,
		ts BIGINT NOT NULL
	);
	CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook, id)`
}

// Webhook is an outbound webhook of a namespace ("" for the global ones).
type Webhook struct {
	ID        string
	Namespace string
	URL       string
	Events    []string
	Format    string
	// Secret is the HMAC key as the webhooks package sealed it.
	Secret    []byte
	CreatedBy string
	Created   time.Time
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	ID        int64
	Webhook   string
	Event     string
	EventType string
	Attempt   int
	// Status is the HTTP status answered, 0 when none was (Error says why).
	Status   int
	Error    string
	Duration time.Duration
	Time     time.Time
}

// Webhooks keeps outbound webhooks and their delivery log. Every Store that Open returns
// implements it (WebhooksOf).
type Webhooks interface {
	AddWebhook(ctx context.Context, w Webhook) error
	// Webhooks returns namespace's webhooks ("" the global ones), oldest first.
	Webhooks(ctx context.Context, namespace string) ([]Webhook, error)
	Webhook(ctx context.Context, id string) (Webhook, bool, error)
	DeleteWebhook(ctx context.Context, namespace, id string) error
	AddDelivery(ctx context.Context, d Delivery) error
	// Deliveries returns a webhook's latest deliveries, newest first.
	Deliveries(ctx context.Context, webhook string, limit int) ([]Delivery, error)
}

// WebhooksOf returns the Webhooks side of a Store opened by Open.
func WebhooksOf(s Store) (Webhooks, error) {
	w, ok := s.(Webhooks)
	if !ok {
		return nil, fmt.Errorf("store %T keeps no webhooks", s)
	}
	return w, nil
}

const webhookColumns = `id, namespace, url, events, format, secret, created_by, created`

func scanWebhook(r *sql.Rows) (Webhook, error) {
	var w Webhook
	var events string
	var created int64
	err := r.Scan(&w.ID, &w.Namespace, &w.URL, &events, &w.Format, &w.Secret, &w.CreatedBy, &created)
	w.Events, w.Created = strings.Split(events, ","), fromNanos(created)
	return w, err
}

// AddWebhook implements Webhooks.
func (s *sqlStore) AddWebhook(ctx context.Context, w Webhook) error {
	if w.Created.IsZero() {
		w.Created = time.Now()
	}
	return s.insert(ctx, "webhook "+w.ID, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Namespace, w.URL, strings.Join(w.Events, ","), w.Format, w.Secret, w.CreatedBy, nanos(w.Created))
}

// Webhooks implements Webhooks.
func (s *sqlStore) Webhooks(ctx context.Context, namespace string) ([]Webhook, error) {
	return list(ctx, s, "webhooks", `SELECT `+webhookColumns+` FROM webhooks WHERE namespace = ? ORDER BY created, id`, scanWebhook, namespace)
}

// Webhook implements Webhooks.
func (s *sqlStore) Webhook(ctx context.Context, id string) (Webhook, bool, error) {
	return one(ctx, s, "webhook", `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, scanWebhook, id)
}

// DeleteWebhook implements Webhooks.
func (s *sqlStore) DeleteWebhook(ctx context.Context, namespace, id string) error {
	return s.change(ctx, "webhook "+id, `DELETE FROM webhooks WHERE namespace = ? AND id = ?`, namespace, id)
}

// AddDelivery implements Webhooks.
func (s *sqlStore) AddDelivery(ctx context.Context, d Delivery) error {
	if d.Time.IsZero() {
		d.Time = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO webhook_deliveries (webhook, event, event_type, attempt, status, error, millis, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		d.Webhook, d.Event, d.EventType, d.Attempt, d.Status, d.Error, d.Duration.Milliseconds(), nanos(d.Time))
	if err != nil {
		return fmt.Errorf("%s: add delivery: %w", s.d.name, s.notFoundOnFK(err, "webhook "+d.Webhook))
	}
	return nil
}

// Deliveries implements Webhooks.
func (s *sqlStore) Deliveries(ctx context.Context, webhook string, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	return list(ctx, s, "deliveries", `SELECT id, webhook, event, event_type, attempt, status, error, millis, ts FROM webhook_deliveries WHERE webhook = ? ORDER BY id DESC LIMIT ?`,
		func(r *sql.Rows) (Delivery, error) {
			var d Delivery
			var millis, ts int64
			err := r.Scan(&d.ID, &d.Webhook, &d.Event, &d.EventType, &d.Attempt, &d.Status, &d.Error, &millis, &ts)
			d.Duration, d.Time = time.Duration(millis)*time.Millisecond, fromNanos(ts)
			return d, err
		}, webhook, limit)
}
