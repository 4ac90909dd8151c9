package auth

import (
	"sync"
	"time"
)

// Throttle counts failed sign-ins per key (user and client address) in a sliding window;
// past max failures the key is refused until the oldest failure leaves the window. It keeps
// its counts in this process: each replica throttles on its own.
type Throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewThrottle allows max failures per key within window.
func NewThrottle(max int, window time.Duration) *Throttle {
	return &Throttle{max: max, window: window, now: time.Now, failures: map[string][]time.Time{}}
}

// Wait reports how long key must wait before trying again (0: it may try now).
func (t *Throttle) Wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	recent := t.failures[key][:0]
	for _, at := range t.failures[key] {
		if now.Sub(at) < t.window {
			recent = append(recent, at)
		}
	}
	if len(recent) == 0 {
		delete(t.failures, key)
		return 0
	}
	t.failures[key] = recent
	if len(recent) < t.max {
		return 0
	}
	return t.window - now.Sub(recent[len(recent)-t.max])
}

// Fail records a failed attempt of key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) > 100_000 {
		clear(t.failures) // forgetting costs only a few more guesses
	}
	t.failures[key] = append(t.failures[key], t.now())
}

// Succeed forgets key's failures.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	delete(t.failures, key)
	t.mu.Unlock()
}
