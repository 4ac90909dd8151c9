package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/embedded"
)

// The multi-replica test runs the real thing: three berth processes (built once) on one
// PostgreSQL and one Redis, behind HAProxy balancing round robin without stickiness, in
// front of registries served by a process of their own (this test binary re-executed).

// need skips (or, with BERTH_E2E=1, fails) when a binary is missing.
func need(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		p = "/usr/sbin/" + bin
		if _, err2 := os.Stat(p); err2 != nil {
			if os.Getenv("BERTH_E2E") == "1" {
				t.Fatalf("%s not found, and BERTH_E2E=1 requires it: %v", bin, err)
			}
			t.Skipf("%s not found (apt-get install %s; BERTH_E2E=1 fails instead): %v", bin, bin, err)
		}
	}
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a process started for a test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

func start(t testing.TB, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHelperRegistries is not a test: re-executed with BERTH_HELPER_REGISTRIES set, it serves
// the main registry (notifying BERTH_HELPER_NOTIFY) and a second one whose uploads are
// throttled, the destination of slow copies, until killed.
func TestHelperRegistries(t *testing.T) {
	spec := os.Getenv("BERTH_HELPER_REGISTRIES")
	if spec == "" {
		t.Skip("helper process for TestReplicas")
	}
	parts := strings.Split(spec, ",") // dir,mainAddr,slowAddr,notifyURL,token
	ctx := context.Background()
	main, err := embedded.New(ctx, filepath.Join(parts[0], "main"),
		embedded.WithNotifications("berth", parts[3], http.Header{"Authorization": {"Bearer " + parts[4]}}, 5*time.Second, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := embedded.New(ctx, filepath.Join(parts[0], "slow"))
	if err != nil {
		t.Fatal(err)
	}
	throttle := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch || r.Method == http.MethodPut {
				r.Body = &slowBody{r: r.Body, perSec: 4 << 20}
			}
			next.ServeHTTP(w, r)
		})
	}
	errc := make(chan error, 2)
	go func() { errc <- http.ListenAndServe(parts[1], main.Handler()) }()
	go func() { errc <- http.ListenAndServe(parts[2], throttle(slow.Handler())) }()
	t.Fatal(<-errc)
}
