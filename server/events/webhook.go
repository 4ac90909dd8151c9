// Package events receives registry notifications (the webhook), records them in the store
// through a single group-committing writer, reconciles missed ones with a periodic registry
// walk (Syncer), and serves them to the UI (API).
package events

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/app/api"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/server/httperr"
	"github.com/berth-registry/berth/server/store"
)

// Media types a notification envelope may be sent with: distribution v2 sends the v1 type,
// distribution v3 the v2 type; plain JSON is accepted for hand-written deliveries.
const (
	EnvelopeMediaTypeV1 = "application/vnd.docker.distribution.events.v1+json"
	EnvelopeMediaTypeV2 = "application/vnd.docker.distribution.events.v2+json"
)

// DefaultMaxBody is the largest envelope accepted unless Options.MaxBody says otherwise.
const DefaultMaxBody = 1 << 20

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("events: writer closed")

// Options configures a Webhook.
type Options struct {
	// Store receives the events.
	Store store.Store
	// Secret, when set, must arrive as "Authorization: Bearer <Secret>".
	Secret string
	// MaxBody bounds an envelope's size; 0 means DefaultMaxBody.
	MaxBody int64
	// MaxBatch bounds the events committed in one transaction; 0 means 1000.
	MaxBatch int
	// Registerer receives the webhook's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// CommitTimeout bounds one store transaction; 0 means 30s.
	CommitTimeout time.Duration
	// ReadTimeout bounds reading one envelope, from the end of its headers to its last
	// byte, so a sender that declares a body and stalls cannot hold a connection and a
	// goroutine forever; 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
}

// DefaultReadTimeout is how long an envelope's body may take to arrive unless
// Options.ReadTimeout says otherwise. Distribution posts a few kilobytes at once.
const DefaultReadTimeout = 15 * time.Second

// Webhook is the notification endpoint. Every delivery is answered only after its events are
// committed; concurrent deliveries share one transaction (group commit), written by a single
// goroutine, so a burst costs one fsync instead of one per request. A delivery the store
// refuses does not take the others down with it: the batch is committed again without it.
type Webhook struct {
	subMu       sync.Mutex
	subscribers []func([]store.Event)

	opts    Options
	secret  []byte
	queue   chan *pending
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
	m       metrics
	// committing counts the deliveries in the transaction being written.
	committing atomic.Int64
}

// pending is one caller's events waiting for the commit of the batch they join.
type pending struct {
	events []store.Event
	done   chan error
}

type metrics struct {
	received   *prometheus.CounterVec
	duplicates prometheus.Counter
	rejected   *prometheus.CounterVec
	latency    prometheus.Histogram
	commits    prometheus.Counter
	batch      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_events_received_total", Help: "Registry events received, by action and source.",
		}, []string{"action", "source"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_events_duplicates_total", Help: "Received events whose id was already stored (redeliveries).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_events_rejected_total", Help: "Webhook deliveries refused, by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_events_store_seconds", Help: "Time to commit one batch of events to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_events_commits_total", Help: "Store transactions committed by the event writer.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_events_batch_requests", Help: "Deliveries sharing one store transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.received, m.duplicates, m.rejected, m.latency, m.commits, m.batch} {
			if err := reg.Register(c); err != nil {
				return m, fmt.Errorf("events: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// NewWebhook returns a running webhook; Close stops its writer.
func NewWebhook(opts Options) (*Webhook, error) {
	if opts.Store == nil {
		return nil, errors.New("events: no store")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = 30 * time.Second
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	w := &Webhook{
		opts:    opts,
		secret:  []byte(opts.Secret),
		queue:   make(chan *pending, 256),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		m:       m,
	}
	if opts.Registerer != nil {
		// Together they tell a slow store (deliveries committing for long) from a burst
		// (many waiting).
		for _, c := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "berth_events_queued_deliveries", Help: "Deliveries waiting for the event writer.",
			}, func() float64 { return float64(len(w.queue)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "berth_events_committing_deliveries", Help: "Deliveries in the store transaction the event writer is running.",
			}, func() float64 { return float64(w.committing.Load()) }),
		} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("events: register metrics: %w", err)
			}
		}
	}
	go w.write()
	return w, nil
}

// Record stores events through the webhook's writer and returns once they are committed.
// The Syncer records through it too, so all writes share one writer.
func (w *Webhook) Record(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	p := &pending{events: events, done: make(chan error, 1)}
	select {
	case w.queue <- p:
	case <-w.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-w.stopped:
		// The writer may have committed p just before stopping.
		select {
		case err := <-p.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is the single writer: it takes whatever deliveries queued up while the previous
// commit ran and commits them together.
func (w *Webhook) write() {
	defer close(w.stopped)
	for {
		var first *pending
		select {
		case first = <-w.queue:
		case <-w.quit:
			// Commit what is already queued, so no accepted request waits forever.
			for {
				select {
				case p := <-w.queue:
					w.commit([]*pending{p})
				default:
					return
				}
			}
		}
		batch := []*pending{first}
		n := len(first.events)
	gather:
		for n < w.opts.MaxBatch {
			select {
			case p := <-w.queue:
				batch = append(batch, p)
				n += len(p.events)
			default:
				break gather
			}
		}
		w.commit(batch)
	}
}

// commit stores the events of batch in one transaction and tells each delivery the outcome.
// When the store refuses the batch for what it holds (store.ErrRejected), one delivery's
// events would otherwise fail every delivery sharing the transaction, forever, since each
// retry would meet the same events again: the halves are committed apart, down to the
// deliveries that fail on their own, so a poisoned delivery costs O(log n) extra commits and
// the good ones are stored. An outage fails the whole batch at once: a second try would fail
// the same way.
func (w *Webhook) commit(batch []*pending) {
	err := w.store(batch)
	if errors.Is(err, store.ErrRejected) && len(batch) > 1 {
		slog.Warn("events: the store refused a batch; committing its deliveries apart", "deliveries", len(batch), "err", err)
		mid := len(batch) / 2
		w.commit(batch[:mid])
		w.commit(batch[mid:])
		return
	}
	if err != nil {
		level := slog.LevelError
		if errors.Is(err, store.ErrRejected) {
			level = slog.LevelWarn // the sender's fault; the store is fine
		}
		slog.Log(context.Background(), level, "events: commit failed", "events", countEvents(batch), "err", err)
	}
	for _, p := range batch {
		p.done <- err
	}
}

// store writes the events of batch in one store transaction.
func (w *Webhook) store(batch []*pending) error {
	all := make([]store.Event, 0, countEvents(batch))
	for _, p := range batch {
		all = append(all, p.events...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.CommitTimeout)
	start := time.Now()
	w.committing.Store(int64(len(batch)))
	added, err := w.opts.Store.AddEvents(ctx, all)
	w.committing.Store(0)
	cancel()
	w.m.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("store %d events: %w", len(all), err)
	}
	w.notify(all)
	w.m.commits.Inc()
	w.m.batch.Observe(float64(len(batch)))
	w.m.duplicates.Add(float64(len(all) - added))
	for _, e := range all {
		w.m.received.WithLabelValues(actionLabel(e.Action), sourceLabel(e.Source)).Inc()
	}
	return nil
}

func countEvents(batch []*pending) int {
	n := 0
	for _, p := range batch {
		n += len(p.events)
	}
	return n
}

// actionLabel and sourceLabel keep the metric labels to a known set whatever Record is given:
// every distinct label value is a time series Prometheus keeps.
func actionLabel(action string) string {
	if knownAction(action) {
		return action
	}
	return "other"
}

func sourceLabel(source string) string {
	if source == store.SourceWebhook || source == store.SourceSync {
		return source
	}
	return "other"
}

// knownAction reports whether action is one distribution reports
// (github.com/distribution/distribution/v3/notifications: pull, push, mount, delete).
func knownAction(action string) bool {
	switch action {
	case store.ActionPush, store.ActionPull, store.ActionDelete, store.ActionMount:
		return true
	}
	return false
}

// ownRead reports whether an event is Berth reading the registry to show it (its catalog,
// tag details and sync use the "berth" user agent): those are not pulls anyone made, and
// counting them would bury real activity under every page view.
func ownRead(e store.Event) bool {
	return e.Action == "pull" && strings.HasPrefix(e.UserAgent, "berth")
}

// OnCommit registers f to be called with every batch of events once it is committed, e.g. to
// invalidate caches on push and delete. f runs on the writer goroutine and must be quick.
func (w *Webhook) OnCommit(f func([]store.Event)) {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	w.subscribers = append(w.subscribers, f)
}

func (w *Webhook) notify(events []store.Event) {
	w.subMu.Lock()
	subs := slices.Clone(w.subscribers)
	w.subMu.Unlock()
	for _, f := range subs {
		f(events)
	}
}

// Close stops the writer after committing what is queued. Call it once no more requests
// arrive (after the HTTP server has shut down).
func (w *Webhook) Close() error {
	w.once.Do(func() { close(w.quit) })
	<-w.stopped
	return nil
}

// ServeHTTP receives one notification envelope.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		w.reject(rw, r, "method", httperr.New(api.CodeMethodNotAllowed, "the notification endpoint accepts only POST"))
		return
	}
	if len(w.secret) > 0 && !w.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="berth-events"`)
		w.reject(rw, r, "unauthorized", httperr.New(api.CodeUnauthorized, "missing or wrong bearer token for the notification endpoint"))
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != EnvelopeMediaTypeV1 && mt != EnvelopeMediaTypeV2 && mt != "application/json") {
		w.reject(rw, r, "media_type", httperr.New(api.CodeUnsupportedMediaType, "send the envelope as "+EnvelopeMediaTypeV1+" or application/json"))
		return
	}
	if r.ContentLength > w.opts.MaxBody {
		w.reject(rw, r, "too_large", tooLarge(w.opts.MaxBody))
		return
	}
	// The server's own timeouts stop at the headers (uploads elsewhere stream for as long as
	// they need); an envelope is small, so its body gets a deadline of its own.
	rc := http.NewResponseController(rw)
	if err := rc.SetReadDeadline(time.Now().Add(w.opts.ReadTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		slog.DebugContext(r.Context(), "events: set read deadline", "err", err)
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.opts.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			w.reject(rw, r, "too_large", tooLarge(w.opts.MaxBody))
			return
		}
		w.reject(rw, r, "read", httperr.Wrap(api.CodeBadRequest, fmt.Sprintf("could not read the request body within %s", w.opts.ReadTimeout), err))
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	events, err := DecodeEnvelope(body)
	if err != nil {
		w.reject(rw, r, "malformed", httperr.Wrap(api.CodeMalformedEnvelope, err.Error(), err))
		return
	}
	events = slices.DeleteFunc(events, ownRead)
	if err := w.Record(r.Context(), events); err != nil {
		if errors.Is(err, store.ErrRejected) {
			// Asking the registry to retry would only bring the same events back.
			w.reject(rw, r, "unstorable", httperr.Wrap(api.CodeMalformedEnvelope, "the event store refuses these events; sending them again will not help", err))
			return
		}
		w.m.rejected.WithLabelValues("store").Inc()
		httperr.Write(rw, r, httperr.Wrap(api.CodeStoreUnavailable, "the events could not be stored; retry later", err))
		return
	}
	httperr.WriteJSON(rw, http.StatusOK, map[string]int{"accepted": len(events)})
}

func tooLarge(limit int64) *httperr.Error {
	return httperr.New(api.CodeTooLarge, fmt.Sprintf("the envelope is larger than %d bytes", limit))
}

func (w *Webhook) reject(rw http.ResponseWriter, r *http.Request, reason string, e *httperr.Error) {
	w.m.rejected.WithLabelValues(reason).Inc()
	httperr.Write(rw, r, e)
}

// authorized compares the whole Authorization header in constant time, so the response time
// says nothing about how much of a guessed token was right.
func (w *Webhook) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(got, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), w.secret) == 1
}
