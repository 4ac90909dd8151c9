// Package webhooks delivers Berth's events (pushes, deletes, pulls, quota warnings, …) to
// outbound webhooks of a namespace or global ones, as River jobs retried with exponential
// backoff, each attempt recorded in a delivery log. Bodies are JSON, CloudEvents 1.0
// (structured mode) or Slack messages, signed with HMAC-SHA256 under the webhook's secret,
// which is sealed at rest and never shown again. Targets are dialed through the same guard
// as remote registries: only allowlisted hosts, internal addresses only when listed.
package webhooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/app/api"
	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/ops"
	"github.com/berth-registry/berth/server/registry"
	"github.com/berth-registry/berth/server/store"
)

// Options configures a Service.
type Options struct {
	Store store.Webhooks
	// Secret is the cluster secret; webhook secrets are sealed under a key derived from it.
	Secret []byte
	// Hosts are the hosts (host or host:port) webhooks may target, internal ones included;
	// "*" also allows any host whose addresses are all public.
	Hosts []string
	// Timeout bounds one delivery; 0 means 10 s.
	Timeout time.Duration
	// Backoff is the wait before the first retry, doubling after each; 0 means 10 s.
	Backoff time.Duration
	// Attempts is how often a delivery is tried; 0 means 6.
	Attempts int
	// Source is the CloudEvents source (Berth's public URL).
	Source string
	// Audit records every change.
	Audit func(ctx context.Context, e store.AuditEntry)
	// Resolver finds the addresses of a target's host name for the dial guard; nil: the
	// system's.
	Resolver registry.Resolver
}

// Service keeps and delivers webhooks.
type Service struct {
	o      Options
	sealer *ops.Sealer
	client *http.Client
	insert func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
}

// New returns the service; Register adds its worker to the job queue, Connect its insert.
func New(o Options) (*Service, error) {
	sealer, err := ops.NewSealer(append([]byte("webhooks:"), o.Secret...))
	if err != nil {
		return nil, err
	}
	o.Timeout = cmpOr(o.Timeout, 10*time.Second)
	o.Backoff = cmpOr(o.Backoff, 10*time.Second)
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.Audit == nil {
		o.Audit = func(context.Context, store.AuditEntry) {}
	}
	guard := registry.NewDialGuard(slices.DeleteFunc(slices.Clone(o.Hosts), func(h string) bool { return h == "*" }), o.Resolver)
	client := &http.Client{
		Transport: registry.NewTransport(o.Timeout, guard),
		Timeout:   o.Timeout,
		// A redirect could lead anywhere; a webhook answers where it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Service{o: o, sealer: sealer, client: client}, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Register adds the delivery worker to River's workers (ops.Options.Register).
func (s *Service) Register(w *river.Workers) { river.AddWorker(w, &deliveryWorker{s: s}) }

// Connect gives the service the job queue's insert (ops.Manager.Insert).
func (s *Service) Connect(insert func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error) {
	s.insert = insert
}

// allowed says why u may not be a webhook's target, or nil.
func (s *Service) allowed(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return httperr.New(api.CodeBadRequest, "a webhook URL is http(s)://host[:port]/path, without credentials")
	}
	host := strings.ToLower(u.Host)
	for _, h := range s.o.Hosts {
		if h == "*" || strings.EqualFold(h, host) || strings.EqualFold(h, u.Hostname()) {
			return nil
		}
	}
	return httperr.New(api.CodeDenied, fmt.Sprintf("Berth sends webhooks only to the hosts the operator allows (--webhook-hosts), not to %s.", u.Host))
}

// Publish queues ev for every webhook of its namespace and every global one that subscribes
// to its type. Failing to queue is logged: an event is not worth failing what caused it.
func (s *Service) Publish(ctx context.Context, ev Event) {
	if s.insert == nil {
		return
	}
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	scopes := []string{""}
	if ev.Namespace != "" {
		scopes = append(scopes, ev.Namespace)
	}
	for _, ns := range scopes {
		hooks, err := s.o.Store.Webhooks(ctx, ns)
		if err != nil {
			slog.WarnContext(ctx, "webhooks: cannot read the webhooks", "namespace", ns, "err", err)
			continue
		}
		for _, h := range hooks {
			if subscribed(h.Events, ev.Type) {
				s.enqueue(ctx, h.ID, ev)
			}
		}
	}
}

func (s *Service) enqueue(ctx context.Context, webhook string, ev Event) {
	err := s.insert(ctx, deliveryArgs{Webhook: webhook, Event: ev, Backoff: s.o.Backoff}, &river.InsertOpts{MaxAttempts: s.o.Attempts})
	if err != nil {
		slog.WarnContext(ctx, "webhooks: cannot queue a delivery", "webhook", webhook, "event", ev.ID, "err", err)
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// deliver posts ev to h once and records the attempt; an error means try again later.
func (s *Service) deliver(ctx context.Context, h store.Webhook, ev Event, attempt int) error {
	d := store.Delivery{Webhook: h.ID, Event: ev.ID, EventType: ev.Type, Attempt: attempt}
	start := time.Now()
	err := s.post(ctx, h, ev, &d.Status)
	d.Duration = time.Since(start)
	if err != nil {
		d.Error = httperr.Reason(err)
	}
	if rerr := s.o.Store.AddDelivery(context.WithoutCancel(ctx), d); rerr != nil {
		slog.WarnContext(ctx, "webhooks: delivery not logged", "webhook", h.ID, "err", rerr)
	}
	return err
}

func (s *Service) post(ctx context.Context, h store.Webhook, ev Event, status *int) error {
	if err := s.allowed(h.URL); err != nil {
		return err
	}
	secret, err := s.sealer.Open(h.ID, h.Secret)
	if err != nil {
		return err
	}
	b, ctype, err := body(h.Format, ev, s.o.Source)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "berth-webhooks")
	req.Header.Set("X-Berth-Event", ev.Type)
	req.Header.Set("X-Berth-Delivery", ev.ID)
	req.Header.Set(SignatureHeader, Sign(secret, b))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	*status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

// deliveryArgs is one event to deliver to one webhook.
type deliveryArgs struct {
	Webhook string        `json:"webhook"`
	Event   Event         `json:"event"`
	Backoff time.Duration `json:"backoff"`
}

// KindDelivery is the River job kind of webhook deliveries.
const KindDelivery = "berth_webhook"

// Kind implements river.JobArgs.
func (deliveryArgs) Kind() string { return KindDelivery }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	s *Service
}

// NextRetry waits Backoff, then twice as long after each failure, at most an hour.
func (w *deliveryWorker) NextRetry(job *river.Job[deliveryArgs]) time.Time {
	wait := job.Args.Backoff << min(max(job.Attempt-1, 0), 20)
	return time.Now().Add(min(wait, time.Hour))
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	h, ok, err := w.s.o.Store.Webhook(ctx, job.Args.Webhook)
	if err != nil {
		return err
	}
	if !ok {
		return nil // deleted since: nothing to deliver to
	}
	return w.s.deliver(ctx, h, job.Args.Event, job.Attempt)
}
