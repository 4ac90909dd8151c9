package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrNotAnswering is the error of a request the circuit breaker refused: the registry failed
// to answer the last requests, and Berth probes it in the background until it answers.
var ErrNotAnswering = errors.New("the registry is not answering")

// The breaker's settings: consecutive connection failures or timeouts that open it, and the
// first and longest wait between background probes.
const (
	breakerThreshold = 3
	breakerFirstWait = 500 * time.Millisecond
	breakerMaxWait   = 30 * time.Second
)

// breaker is the circuit breaker of one registry: after breakerThreshold consecutive requests
// to it failed to connect or timed out, every request fails at once with ErrNotAnswering
// instead of costing its caller the full timeout, while one probe at a time asks /v2/ at a
// growing interval; the first answer closes it. Requests to other hosts (token realms) pass.
type breaker struct {
	next    http.RoundTripper
	host    string
	probe   string        // the registry's /v2/ URL
	timeout time.Duration // of one probe

	mu         sync.Mutex
	failures   int
	openedAt   time.Time // zero while closed
	lastAnswer time.Time // of the latest request the registry answered
}

func newBreaker(next http.RoundTripper, addr Address, timeout time.Duration) *breaker {
	return &breaker{next: next, host: addr.Host, probe: addr.String() + "/v2/", timeout: timeout}
}

// RoundTrip implements http.RoundTripper.
func (b *breaker) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != b.host {
		return b.next.RoundTrip(req)
	}
	if !b.OpenSince().IsZero() {
		return nil, ErrNotAnswering
	}
	start := time.Now()
	resp, err := b.next.RoundTrip(req)
	if req.Body == nil || req.Body == http.NoBody {
		// Only requests without a body count: an upload cut short by its own client (through
		// the /v2 proxy, say) fails the same way, and must not open the breaker for everyone.
		b.record(req.Context(), start, err)
	}
	return resp, err
}

// OpenSince is when the breaker opened; zero while it is closed.
func (b *breaker) OpenSince() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.openedAt
}

// record counts the outcome of a request sent at start: an answer resets the count, a failure
// to connect or to answer in time adds to it. A caller giving up says nothing of the
// registry, and neither does a caller's own deadline (a prerender's 3 s budget, say) running
// out while the registry answered other requests meanwhile: it is busy, not hung.
func (b *breaker) record(ctx context.Context, start time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		b.failures, b.lastAnswer = 0, time.Now()
		return
	case errors.Is(err, context.Canceled) && ctx.Err() != nil, !unanswered(err):
		return
	case ctx.Err() != nil && b.lastAnswer.After(start):
		return
	}
	b.failures++
	if b.failures >= breakerThreshold && b.openedAt.IsZero() {
		b.openedAt = time.Now()
		slog.Warn("registry not answering: failing its requests at once until a probe gets an answer", "registry", b.host, "failures", b.failures)
		go b.probeUntilAnswered()
	}
}

// unanswered reports whether err means the registry did not answer: no connection, a
// connection cut, or a timeout.
func unanswered(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() || errors.As(err, &oe) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// probeUntilAnswered asks /v2/ after a growing wait until any HTTP answer comes, then closes
// the breaker. Only one runs per breaker: it starts when the breaker opens.
func (b *breaker) probeUntilAnswered() {
	for wait := breakerFirstWait; ; wait = min(2*wait, breakerMaxWait) {
		time.Sleep(wait)
		if b.answers() {
			b.mu.Lock()
			slog.Info("registry answers again", "registry", b.host, "down_for", time.Since(b.openedAt).Round(time.Second))
			b.failures, b.openedAt = 0, time.Time{}
			b.mu.Unlock()
			return
		}
	}
}

// answers reports whether the registry answers /v2/ at all within the timeout.
func (b *breaker) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.probe, nil)
	if err != nil {
		return false
	}
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return true
}
