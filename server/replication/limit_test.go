package replication

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// counting is a Limiter that counts what it is asked to pace.
type counting struct {
	mu    sync.Mutex
	total int
	max   int
}

func (c *counting) WaitN(_ context.Context, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += n
	c.max = max(c.max, n)
	return nil
}

func (c *counting) Burst() int { return 1000 }

// TestLimitPacesEveryByteRead: a body read through Limit asks the limiter for each byte,
// never more than its burst at once, and arrives whole.
func TestLimitPacesEveryByteRead(t *testing.T) {
	body := strings.Repeat("x", 10_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }))
	defer srv.Close()
	lim := &counting{}
	resp, err := (&http.Client{Transport: Limit(http.DefaultTransport, lim)}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != body || lim.total != len(body) || lim.max > lim.Burst() {
		t.Errorf("read %d bytes, paced %d, at most %d at once", len(got), lim.total, lim.max)
	}
}
